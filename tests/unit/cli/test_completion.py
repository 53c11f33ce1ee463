"""`berth completion bash|zsh|fish`: scripts that parse, list every command and flag, and
complete object names by asking berth (here a stand-in that logs what it was asked)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from berth.cli import main as cli_main
from berth.cli import reference
from berth.cli.completion import script

SHELLS = {
    "bash": ["bash", "-n"],
    "zsh": ["zsh", "-n"],
    "fish": ["fish", "--no-execute"],
}


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_script_parses(shell: str, tmp_path: Path) -> None:
    argv = SHELLS[shell]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed, so its parser cannot check the script")
    path = tmp_path / f"berth.{shell}"
    path.write_text(script(shell))
    r = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def _rules(shell: str, text: str, key: str) -> str:
    """The lines of a script that belong to one command path ("berth network create")."""
    start = {"bash": f"    ['{key}']=", "zsh": f"    '{key}' ", "fish": ""}[shell]
    if shell == "fish":
        guard = f"__berth_is \\'{key}\\''"
        return "\n".join(line for line in text.splitlines() if guard in line)
    return "\n".join(line for line in text.splitlines() if line.startswith(start))


def _flag_forms(shell: str, long: str, short: str) -> list[str]:
    if shell == "fish":
        return [f"-l {long}"] + ([f"-s {short}"] if short else [])
    return [f" --{long} ", *([f" -{short} "] if short else [])]


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_script_names_every_command_and_flag(shell: str) -> None:
    text = script(shell)
    top = _rules(shell, text, "berth")
    for word in reference.top_level():
        assert f" {word} " in top.replace("'", " ") or f"-a {word} " in top, word
    for path, entry in reference.all_paths(reference.entries()):
        rules = _rules(shell, text, "berth " + " ".join(path))
        assert rules, path
        padded = rules.replace("'", " ")
        for f in entry.command.flags:
            for form in _flag_forms(shell, f.long, f.short):
                assert form in padded, (path, form)
    for f in reference.GLOBAL_FLAGS:
        for form in _flag_forms(shell, f.long, f.short):
            assert form in top.replace("'", " "), form


def test_cli_prints_the_script_without_a_daemon(capsys: pytest.CaptureFixture[str]) -> None:
    env_host = "unix:///nonexistent/berth.sock"
    assert cli_main.main(["-H", env_host, "completion", "bash"]) == 0
    assert capsys.readouterr().out == script("bash")


@pytest.mark.parametrize("argv", [["completion"], ["completion", "nope"]])
def test_completion_alone_shows_its_subcommands(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main(argv) == 0  # as `docker completion nope`: help, status 0
    out = capsys.readouterr().out
    assert out.startswith("\nUsage:  berth completion COMMAND\n")
    listed = {line.split()[0] for line in out.split("Commands:\n")[1].split("\n\n")[0].splitlines()}
    assert listed == {"bash", "fish", "zsh"}


FAKE_BERTH = """#!/bin/sh
echo "$*" >> "$0.log"
case "$*" in
  *"ps -a --format"*) printf 'web\\ndb\\n' ;;
  *"network ls --format"*) printf 'bridge\\nmynet\\n' ;;
  *"images --format"*) printf 'busybox:latest\\n<none>:<none>\\n' ;;
  *"volume ls --format"*) printf 'vol1\\n' ;;
esac
"""


@pytest.fixture
def fake_berth(tmp_path: Path) -> Path:
    path = tmp_path / "berth"
    path.write_text(FAKE_BERTH)
    path.chmod(0o755)
    return path


def _bash_complete(tmp_path: Path, words: list[str]) -> list[str]:
    script_path = tmp_path / "berth.bash"
    script_path.write_text(script("bash"))
    quoted = " ".join("'" + w + "'" for w in words)
    prog = (
        f"source {script_path}\n"
        "compopt() { :; }\n"  # only defined while bash is completing
        f"COMP_WORDS=({quoted}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n"
        '_berth; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


@pytest.mark.parametrize(
    ("typed", "want"),
    [
        (["net"], ["network"]),
        (["network", "c"], ["connect", "create"]),
        (["network", "create", "--d"], ["--driver"]),
        (["--d"], ["--debug"]),
        (["rm", ""], ["web", "db"]),
        (["container", "rm", "web", ""], ["web", "db"]),  # CONTAINER [CONTAINER...] repeats
        (["run", "-d", ""], ["busybox:latest"]),  # <none> left out
        (["run", "--network", ""], ["bridge", "mynet"]),
        (["run", "--name", "x", ""], ["busybox:latest"]),  # --name's value is not the image
        (["network", "connect", ""], ["bridge", "mynet"]),
        (["network", "connect", "mynet", ""], ["web", "db"]),
        (["network", "create", ""], []),  # a new name: nothing to offer
        (["volume", "rm", "v"], ["vol1"]),
        (["rename", "web", ""], []),
    ],
)
def test_bash_completes(
    tmp_path: Path, fake_berth: Path, typed: list[str], want: list[str]
) -> None:
    assert _bash_complete(tmp_path, [str(fake_berth), *typed]) == want


def test_bash_asks_the_daemon_the_line_names(tmp_path: Path, fake_berth: Path) -> None:
    words = [str(fake_berth), "-H", "unix:///x.sock", "stop", ""]
    assert _bash_complete(tmp_path, words) == ["web", "db"]
    log = Path(str(fake_berth) + ".log").read_text()
    assert log == "-H unix:///x.sock ps -a --format {{.Names}}\n"


def _fish_complete(tmp_path: Path, fake_berth: Path, line: str) -> list[str]:
    script_path = tmp_path / "berth.fish"
    script_path.write_text(script("fish"))
    env = {"PATH": f"{fake_berth.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    prog = f"source {script_path}; complete -C {line!r}"
    r = subprocess.run(["fish", "-c", prog], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return sorted(w.split("\t")[0] for w in r.stdout.splitlines() if w)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("berth network c", ["connect", "create"]),
        ("berth network create --dr", ["--driver"]),
        ("berth -H x rm ", ["db", "web"]),
        ("berth run --network ", ["bridge", "mynet"]),
    ],
)
def test_fish_completes(tmp_path: Path, fake_berth: Path, line: str, want: list[str]) -> None:
    assert _fish_complete(tmp_path, fake_berth, line) == want


def _zsh_complete(tmp_path: Path, fake_berth: Path, words: list[str]) -> list[str]:
    script_path = tmp_path / "berth.zsh"
    script_path.write_text(script("zsh"))
    quoted = " ".join("'" + w + "'" for w in [str(fake_berth), *words])
    prog = (
        "compdef() { :; }\n"  # stand-ins for the completion system's builtins
        'compadd() { shift; print -l -- "$@"; }\n'
        "_files() { print -- '<files>'; }\n"
        f"source {script_path}\n"
        f"words=({quoted}); CURRENT=${{#words}}; _berth\n"
    )
    r = subprocess.run(["zsh", "-fc", prog], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize(
    ("typed", "want"),
    [
        (["rm", ""], ["web", "db"]),
        (["network", "connect", "mynet", ""], ["web", "db"]),
        (["run", "--network", ""], ["bridge", "mynet"]),
        (["rename", "web", ""], ["<files>"]),
    ],
)
def test_zsh_completes(tmp_path: Path, fake_berth: Path, typed: list[str], want: list[str]) -> None:
    assert _zsh_complete(tmp_path, fake_berth, typed) == want
