"""`berth WORD --help` for the management commands lists their subcommands, as docker's."""

from __future__ import annotations

import pytest

from berth.cli import main as cli_main


@pytest.mark.parametrize(
    ("word", "some"),
    [
        ("system", {"df", "events", "info", "prune"}),
        ("image", {"ls", "rm", "pull", "push", "save", "load", "tag", "build"}),
        ("container", {"run", "create", "ls", "rm", "logs", "exec", "stats"}),
        ("network", {"create", "ls", "rm", "connect", "disconnect", "prune"}),
        ("volume", {"create", "ls", "rm", "inspect", "prune"}),
    ],
)
@pytest.mark.parametrize("how", [[], ["--help"], ["-h"]])
def test_management_help_lists_subcommands(
    word: str, some: set[str], how: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main([word, *how]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"\nUsage:  berth {word} COMMAND\n")
    listed = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    subs = {line.split()[0] for line in listed}
    assert some <= subs
    assert "list" not in subs and "remove" not in subs  # aliases are not listed
    assert all(len(line.split(None, 1)) == 2 for line in listed)  # each has its summary
    assert out.endswith(f"Run 'berth {word} COMMAND --help' for more information on a command.\n")


def test_unknown_subcommand_is_still_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["system", "nope"]) == 1
    assert "unknown command: berth system nope" in capsys.readouterr().err
