"""`docker build` (the docker CLI's classic builder) against berthd: a multi-stage build
that compiles a program and runs it from scratch, the cache, .dockerignore, a failing RUN
and the errors of bad input, each as dockerd answers them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.compat.build.conftest import compiler_source
from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.compat

Build = Callable[..., subprocess.CompletedProcess[bytes]]
Ctx = Callable[..., Path]


def _out(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stdout.decode() + r.stderr.decode()


def _id(daemon: Daemon, name: str) -> str:
    st, body = daemon.api.call("GET", f"/images/{name}/json")
    assert st == 200, body
    return str(body["Id"])


def test_a_multi_stage_build_compiles_a_program_into_scratch(
    daemon: Daemon, toolchain: str, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {
            "compiler.py": compiler_source(),
            "hello.src": "print hello from a compiled program\nexit 0\n",
            "Dockerfile": (
                f"FROM {toolchain} AS compiler\n"
                "COPY compiler.py hello.src /src/\n"
                "RUN python3 -S -I /src/compiler.py /src/hello.src /out/hello && chmod 755 /out/hello\n"
                "FROM scratch\n"
                "COPY --from=compiler /out/hello /hello\n"
                'CMD ["/hello"]\n'
            ),
        }
    )
    r = build_cli("-t", "bt-build-hello:1", str(d))
    assert r.returncode == 0, _out(r)
    out = _out(r)
    assert "Step 1/6 : FROM " + toolchain in out and "Successfully tagged bt-build-hello:1" in out
    docker = docker_for(daemon)
    run = docker("run", "--rm", "bt-build-hello:1")
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"hello from a compiled program\n"
    # the final image holds one layer: the program, and nothing of the toolchain
    st, img = daemon.api.call("GET", "/images/bt-build-hello:1/json")
    assert len(img["RootFS"]["Layers"]) == 1, img["RootFS"]
    hist = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "bt-build-hello:1")
    lines = hist.stdout.decode().splitlines()
    assert lines[0] == '/bin/sh -c #(nop)  CMD ["/hello"]', lines
    assert lines[1].startswith("/bin/sh -c #(nop) COPY file:") and lines[1].endswith(
        " in /hello "
    ), lines


def test_a_second_build_is_all_cache_and_a_change_invalidates_from_its_step(
    daemon: Daemon, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {
            "a.txt": "one\n",
            "b.txt": "two\n",
            "Dockerfile": (
                "FROM busybox\n"
                "ARG FLAVOUR=plain\n"
                "COPY a.txt /a.txt\n"
                "RUN echo built >/built\n"
                "RUN echo $FLAVOUR >/flavour\n"
                "COPY b.txt /b.txt\n"
                'CMD ["cat", "/flavour"]\n'
            ),
        }
    )
    first = build_cli("-t", "bt-build-cache:1", str(d))
    assert first.returncode == 0, _out(first)
    assert "Using cache" not in _out(first)
    id1 = _id(daemon, "bt-build-cache:1")
    again = build_cli("-t", "bt-build-cache:1", str(d))
    assert again.returncode == 0, _out(again)
    assert _out(again).count(" ---> Using cache") == 6, _out(again)
    assert _id(daemon, "bt-build-cache:1") == id1

    # a changed file: the steps before its COPY are cached, its COPY and all after are not
    (d / "a.txt").write_text("one, changed\n")
    changed = build_cli("-t", "bt-build-cache:2", str(d))
    text = _out(changed)
    assert changed.returncode == 0, text
    steps = text.split("Step ")[1:]
    cached = ["Using cache" in s for s in steps]
    assert cached == [False, True, False, False, False, False, False], text

    # a changed build arg: cached up to its first use, not from there on (the classic
    # builder's first use is the first RUN after its ARG: every RUN records the args in
    # scope, `|1 FLAVOUR=spicy /bin/sh -c ...`)
    (d / "a.txt").write_text("one\n")
    arg = build_cli("--build-arg", "FLAVOUR=spicy", "-t", "bt-build-cache:3", str(d))
    text = _out(arg)
    assert arg.returncode == 0, text
    cached = ["Using cache" in s for s in text.split("Step ")[1:]]
    assert cached == [False, True, True, False, False, False, False], text
    run = docker_for(daemon)("run", "--rm", "bt-build-cache:3")
    assert run.stdout == b"spicy\n"
    # --no-cache builds everything again
    nc = build_cli("--no-cache", "-t", "bt-build-cache:4", str(d))
    assert nc.returncode == 0 and "Using cache" not in _out(nc), _out(nc)


def test_dockerignore_keeps_a_secret_out_and_an_exception_in(
    daemon: Daemon, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {
            "secret.key": "do not send\n",
            "logs/a.log": "a\n",
            "logs/keep.log": "kept\n",
            "app.txt": "app\n",
            ".dockerignore": "# the secret stays home\nsecret.key\nlogs/*.log\n!logs/keep.log\n",
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort\n",
        }
    )
    r = build_cli("-t", "bt-build-ignore:1", str(d))
    assert r.returncode == 0, _out(r)
    run = docker_for(daemon)("run", "--rm", "bt-build-ignore:1", "find", "/ctx", "-type", "f")
    files = sorted(run.stdout.decode().split())
    assert files == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/app.txt", "/ctx/logs/keep.log"]


def test_a_failing_run_reports_its_code_and_output_and_leaves_no_container(
    daemon: Daemon, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {"Dockerfile": "FROM busybox\nRUN echo about to fail && echo to stderr >&2 && exit 3\n"}
    )
    before = daemon.api.call("GET", "/containers/json?all=1")[1]
    r = build_cli("--force-rm", "-t", "bt-build-fail:1", str(d))
    text = _out(r)
    assert r.returncode == 3, text  # the CLI exits with the errorDetail's code
    assert "about to fail" in text and "to stderr" in text
    assert (
        "The command '/bin/sh -c echo about to fail && echo to stderr >&2 && exit 3' "
        "returned a non-zero code: 3"
    ) in text
    assert daemon.api.call("GET", "/containers/json?all=1")[1] == before
    # without --force-rm the failed step's container stays, as with dockerd
    kept = build_cli(str(d))
    assert kept.returncode == 3, _out(kept)
    after = daemon.api.call("GET", "/containers/json?all=1")[1]
    assert len(after) == len(before) + 1
    daemon.api.call("DELETE", f"/containers/{after[0]['Id']}?force=1")


def test_history_and_inspect_read_as_after_a_dockerd_build(
    daemon: Daemon, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {
            "Dockerfile": (
                "FROM busybox\nLABEL team=berth\nENV GREETING=hi\nEXPOSE 8080\n"
                "VOLUME /data\nWORKDIR /srv\nUSER 1000\nSTOPSIGNAL SIGINT\n"
                'ENTRYPOINT ["sh", "-c"]\nCMD ["echo $GREETING"]\n'
            )
        }
    )
    r = build_cli("--label", "built.by=test", "-t", "bt-build-meta:1", str(d))
    assert r.returncode == 0, _out(r)
    cfg = daemon.api.call("GET", "/v1.44/images/bt-build-meta:1/json")[1]
    c = cfg["Config"]
    assert c["Labels"] == {"team": "berth", "built.by": "test"}
    assert "GREETING=hi" in c["Env"] and c["ExposedPorts"] == {"8080/tcp": {}}
    assert c["Volumes"] == {"/data": {}} and c["WorkingDir"] == "/srv" and c["User"] == "1000"
    assert c["StopSignal"] == "SIGINT" and c["Entrypoint"] == ["sh", "-c"]
    assert c["Cmd"] == ["echo $GREETING"]
    assert cfg["ContainerConfig"]["Cmd"][:2] == ["/bin/sh", "-c"]
    assert cfg["ContainerConfig"]["Cmd"][2].startswith("#(nop) ")
    run = docker_for(daemon)("run", "--rm", "bt-build-meta:1")
    assert run.stdout == b"hi\n", run.stderr
    hist = docker_for(daemon)(
        "history", "--format", "{{.ID}} {{.CreatedBy}}", "--no-trunc", "bt-build-meta:1"
    )
    rows = hist.stdout.decode().splitlines()
    # each step is an image of its own here: history names them, as dockerd does
    assert all(not row.startswith("<missing>") for row in rows[:11]), rows


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"Dockerfile": "FROM busybox\nFROBNICATE now\n"}, "unknown instruction: FROBNICATE"),
        ({"Dockerfile": "FROM busybox\nCOPY ../outside /x\n"}, "outside the build context"),
        ({"Dockerfile": "FROM busybox\nCOPY missing.txt /x\n"}, "file not found in build context"),
        # an unknown stage is an image to pull, as in dockerd (no registry here: its error)
        ({"Dockerfile": "FROM busybox\nCOPY --from=nostage /x /x\n"}, None),
        ({"Dockerfile": "FROM bt-build-absent-image:none\n"}, None),
        ({"Dockerfile": ""}, None),
    ],
)
def test_bad_input_is_a_clear_error(
    daemon: Daemon, build_cli: Build, ctx: Ctx, files: dict[str, str], message: str | None
) -> None:
    before = daemon.api.call("GET", "/containers/json?all=1")[1]
    images_before = {i["Id"] for i in daemon.api.call("GET", "/images/json?all=1")[1]}
    r = build_cli(str(ctx(files)))
    text = _out(r)
    assert r.returncode == 1, text
    assert "Traceback" not in text and text.strip(), text
    if message:
        assert message in text, text
    assert daemon.api.call("GET", "/containers/json?all=1")[1] == before
    after = {i["Id"] for i in daemon.api.call("GET", "/images/json?all=1")[1]}
    assert after <= images_before | set(), after - images_before


def test_a_syntax_error_names_its_line(build_cli: Build, ctx: Ctx) -> None:
    r = build_cli(str(ctx({"Dockerfile": "FROM busybox\n\nENV\n"})))
    assert r.returncode == 1
    assert "line 3" in _out(r), _out(r)


def test_a_missing_target_is_refused(build_cli: Build, ctx: Ctx) -> None:
    r = build_cli("--target", "nope", str(ctx({"Dockerfile": "FROM busybox AS base\nRUN true\n"})))
    assert r.returncode == 1
    assert "failed to reach build target nope in Dockerfile" in _out(r), _out(r)


def test_a_target_stops_at_its_stage(daemon: Daemon, build_cli: Build, ctx: Ctx) -> None:
    d = ctx(
        {"Dockerfile": "FROM busybox AS one\nRUN echo 1 >/one\nFROM one AS two\nRUN echo 2 >/two\n"}
    )
    r = build_cli("--target", "one", "-t", "bt-build-target:1", str(d))
    assert r.returncode == 0, _out(r)
    assert "Step 2/2" in _out(r) and "Step 3" not in _out(r)
    run = docker_for(daemon)("run", "--rm", "bt-build-target:1", "sh", "-c", "ls /one /two")
    assert b"/one" in run.stdout and run.returncode != 0


def test_a_hostile_context_tar_is_refused(daemon: Daemon, build_cli: Build) -> None:
    import io
    import tarfile

    for evil in ("../escape", "/etc/bt-build-escape"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            df = b"FROM busybox\nCOPY . /x\n"
            ti = tarfile.TarInfo("Dockerfile")
            ti.size = len(df)
            tf.addfile(ti, io.BytesIO(df))
            ti = tarfile.TarInfo(evil)
            ti.size = 4
            tf.addfile(ti, io.BytesIO(b"evil"))
        r = build_cli("-", input=buf.getvalue())
        assert r.returncode == 1, _out(r)
        assert "invalid build context" in _out(r), _out(r)
    assert not Path("/etc/bt-build-escape").exists()
    # a symlink out, and a member beneath it
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        df = b"FROM busybox\n"
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(df)
        tf.addfile(ti, io.BytesIO(df))
        ti = tarfile.TarInfo("out")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/tmp"
        tf.addfile(ti)
        ti = tarfile.TarInfo("out/bt-build-escape")
        ti.size = 4
        tf.addfile(ti, io.BytesIO(b"evil"))
    r = build_cli("-", input=buf.getvalue())
    assert r.returncode == 1 and "symbolic link" in _out(r), _out(r)
    assert not Path("/tmp/bt-build-escape").exists()


def test_prune_frees_the_cache(daemon: Daemon, build_cli: Build, ctx: Ctx) -> None:
    d = ctx({"big": "x" * 300_000, "Dockerfile": "FROM busybox\nCOPY big /big\nRUN true\n"})
    r = build_cli(str(d))
    assert r.returncode == 0, _out(r)
    st, body = daemon.api.call("POST", "/build/prune")
    assert st == 200, body
    assert body["SpaceReclaimed"] >= 300_000, body
    again = build_cli(str(d))
    assert "Using cache" not in _out(again), _out(again)
    docker = docker_for(daemon)
    out = docker("builder", "prune", "-f")
    assert out.returncode == 0, out.stderr
    assert b"Total reclaimed space" in out.stdout


def test_quiet_and_iidfile(daemon: Daemon, build_cli: Build, ctx: Ctx, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    r = build_cli("-q", "--iidfile", str(iid), str(ctx({"Dockerfile": "FROM busybox\nENV Q=1\n"})))
    assert r.returncode == 0, _out(r)
    image_id = iid.read_text().strip()
    assert image_id.startswith("sha256:")
    assert r.stdout.decode().strip() == image_id
    daemon.api.call("DELETE", f"/images/{image_id}")


def test_dockerfile_from_stdin_and_outside_the_context(
    daemon: Daemon, build_cli: Build, ctx: Ctx, tmp_path: Path
) -> None:
    d = ctx({"file.txt": "in the context\n"})
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\nCOPY file.txt /file.txt\n")
    r = build_cli("-f", str(outside), "-t", "bt-build-outside:1", str(d))
    assert r.returncode == 0, _out(r)
    run = docker_for(daemon)("run", "--rm", "bt-build-outside:1", "cat", "/file.txt")
    assert run.stdout == b"in the context\n"
    piped = build_cli("-t", "bt-build-stdin:1", "-", input=b"FROM busybox\nENV FROM_STDIN=1\n")
    assert piped.returncode == 0, _out(piped)
    cfg = daemon.api.call("GET", "/images/bt-build-stdin:1/json")[1]["Config"]
    assert "FROM_STDIN=1" in cfg["Env"]


def test_the_stream_is_json_lines(daemon: Daemon, ctx: Ctx) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        df = b"FROM busybox\nRUN echo streamed\n"
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(df)
        tf.addfile(ti, io.BytesIO(df))
    st, _, body = daemon.api.raw(
        "POST", "/build?rm=1", buf.getvalue(), {"Content-Type": "application/x-tar"}
    )
    assert st == 200
    msgs = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert msgs[0] == {"stream": "Step 1/2 : FROM busybox\n"}
    assert {"stream": "streamed\n"} in msgs
    aux = [m for m in msgs if "aux" in m]
    assert len(aux) == 1 and aux[0]["aux"]["ID"].startswith("sha256:")
    daemon.api.call("DELETE", f"/images/{aux[0]['aux']['ID']}")
