"""The build context berth sends: docker/cli's rules for the directory's tar, stdin,
.dockerignore and a Dockerfile from elsewhere; and `berth build`'s flags into the query."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from berth.cli.commands.build import BUILD, _build_args, _query
from berth.cli.flags import UsageError, parse
from berth.client import buildcontext as bc


def members(ctx: bc.BuildContext) -> dict[str, tarfile.TarInfo]:
    data = b"".join(ctx.chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


def read(ctx_dir: Path, dockerfile: str = "", data: bytes | None = None) -> bc.BuildContext:
    d, rel = bc.local_dir(str(ctx_dir), dockerfile)
    return bc.from_directory(d, rel, data)


def test_tar_keeps_links_modes_and_zeroes_owners(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    if os.geteuid() == 0:
        os.chown(tmp_path / "run.sh", 1234, 1234)  # before chmod: chown clears setuid
    os.chmod(tmp_path / "run.sh", 0o4755)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("x")
    os.symlink("run.sh", tmp_path / "link")
    os.link(tmp_path / "dir" / "f", tmp_path / "hard")
    got = members(read(tmp_path))
    names = list(got)
    assert names == ["Dockerfile", "dir", "dir/f", "hard", "link", "run.sh"]  # lexical walk
    assert got["dir"].isdir()
    assert got["link"].issym() and got["link"].linkname == "run.sh"
    assert got["hard"].islnk() and got["hard"].linkname == "dir/f"
    assert got["run.sh"].mode == 0o4755
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" for m in got.values())


def test_directory_names_end_in_a_slash(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "d").mkdir()
    raw = b"".join(read(tmp_path).chunks)
    assert b"d/\0" in raw


def test_dockerignore_excludes_but_never_the_build_files(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / ".dockerignore").write_text("*\n!keep\n!cache/wanted\n")
    (tmp_path / "keep").write_text("k")
    (tmp_path / "secret").write_text("s")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "wanted").write_text("w")
    (tmp_path / "cache" / "junk").write_text("j")
    got = members(read(tmp_path))
    # the excluded directory is walked for its exception but not sent itself
    assert sorted(got) == [".dockerignore", "Dockerfile", "cache/wanted", "keep"]


def test_fully_excluded_directory_is_not_walked(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    (tmp_path / "node_modules" / "a").mkdir(parents=True)
    (tmp_path / "node_modules" / "a" / "b").write_text("x")
    assert sorted(members(read(tmp_path))) == [".dockerignore", "Dockerfile"]


def test_dockerfile_outside_the_context_travels_under_a_random_name(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").write_text("a")
    (tmp_path / "other.Dockerfile").write_text("FROM busybox\n")
    d, rel = bc.local_dir(str(ctx), str(tmp_path / "other.Dockerfile"))
    assert rel == "../other.Dockerfile"
    c = bc.from_directory(d, rel, b"FROM busybox\n")
    assert c.dockerfile.startswith(".dockerfile.") and len(c.dockerfile) == len(".dockerfile.") + 20
    data = b"".join(c.chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.extractfile(c.dockerfile).read() == b"FROM busybox\n"  # type: ignore[union-attr]
        ignore = tf.extractfile(".dockerignore").read()  # type: ignore[union-attr]
    assert ignore == f".dockerignore\n{c.dockerfile}\n".encode()


def test_existing_dockerignore_gets_the_random_name_appended(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("junk")
    c = bc.from_directory(str(tmp_path), "-", b"FROM busybox\n")
    data = b"".join(c.chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        ignore = tf.extractfile(".dockerignore").read()  # type: ignore[union-attr]
    assert ignore == f"junk\n{c.dockerfile}\n".encode()


def test_lowercase_dockerfile_is_found(tmp_path: Path) -> None:
    (tmp_path / "dockerfile").write_text("FROM busybox\n")
    assert bc.local_dir(str(tmp_path), "")[1] == "dockerfile"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("nodockerfile", "unable to evaluate symlinks in Dockerfile path: lstat {d}/Dockerfile: "
                         "no such file or directory"),
        ("file", "context must be a directory: {d}/f"),
    ],
)  # fmt: skip
def test_local_dir_errors(tmp_path: Path, setup: str, message: str) -> None:
    spec = str(tmp_path)
    if setup == "file":
        (tmp_path / "f").write_text("x")
        spec = str(tmp_path / "f")
    with pytest.raises(bc.ContextError) as exc:
        bc.local_dir(spec, "")
    assert str(exc.value) == message.format(d=tmp_path)


def test_detect_type() -> None:
    assert bc.detect_type("-") == "stdin"
    assert bc.detect_type("/") == "local"
    assert bc.detect_type("https://example.com/repo.git#main:sub") == "git"
    assert bc.detect_type("github.com/docker/cli") == "git"
    assert bc.detect_type("https://example.com/ctx.tar") == "remote"
    with pytest.raises(bc.ContextError, match='path "nope-xyz" not found'):
        bc.detect_type("nope-xyz")


def test_stdin_tar_is_sent_as_is() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("sub/Dockerfile.x")
        ti.size = 13
        tf.addfile(ti, io.BytesIO(b"FROM busybox\n"))
    raw = buf.getvalue()
    c = bc.from_reader(io.BytesIO(raw), "sub/Dockerfile.x")
    assert b"".join(c.chunks) == raw and c.dockerfile == "sub/Dockerfile.x"
    assert bc.is_archive(gzip.compress(raw)[:1024])


def test_stdin_dockerfile_is_wrapped_in_a_tar() -> None:
    c = bc.from_reader(io.BytesIO(b"FROM busybox\nRUN true\n"), "")
    assert c.dockerfile == "Dockerfile"
    got = members(c)
    assert list(got) == ["Dockerfile"] and got["Dockerfile"].size == 22


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("-", "build context is not an archive"),
        ("x", "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles"),
    ],
)
def test_stdin_dockerfile_refusals(flag: str, message: str) -> None:
    with pytest.raises(bc.ContextError, match=message):
        bc.from_reader(io.BytesIO(b"FROM busybox\n"), flag)


def test_gzipped_round_trips() -> None:
    data = b"x" * 100_000
    assert gzip.decompress(b"".join(bc.gzipped([data[:10], data[10:]]))) == data


def test_query_from_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_ENV", "env-value")
    monkeypatch.delenv("UNSET_ARG", raising=False)
    opts, _ = parse(
        BUILD,
        ["-t", "a:1", "-t", "b", "--build-arg", "X=1", "--build-arg", "FROM_ENV",
         "--build-arg", "UNSET_ARG", "--no-cache", "--shm-size", "64m", "-m", "1g",
         "--memory-swap", "-1", "--ulimit", "nofile=10:20", "--label", "k=v",
         "--cache-from", "x,y", "--add-host", "h:1.2.3.4", "--target", "t", "."],
    )  # fmt: skip
    q = _query(opts, "")
    assert q["t"] == ["a:1", "b"] and q["nocache"] is True and q["rm"] is True
    assert q["buildargs"] == {"X": "1", "FROM_ENV": "env-value", "UNSET_ARG": None}
    assert q["shmsize"] == 64 << 20 and q["memory"] == 1 << 30 and q["memswap"] == -1
    assert q["ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert q["labels"] == {"k": "v"} and q["cachefrom"] == ["x", "y"]
    assert q["extrahosts"] == ["h:1.2.3.4"] and q["target"] == "t"
    assert q["networkmode"] == "default" and q["version"] == "1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-t", "Bad:x"], "repository name (Bad) must be lowercase"),
        (["--ulimit", "bogus=1"], "invalid ulimit type: bogus"),
        (["--ulimit", "nofile=20:10"], "ulimit soft limit must be less than or equal"),
        (["--shm-size", "lots"], "invalid size: 'lots'"),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    opts, _ = parse(BUILD, [*argv, "."])
    with pytest.raises(UsageError) as exc:
        _query(opts, "")
    assert message in exc.value.message and exc.value.status == 125


def test_build_arg_refuses_an_empty_name() -> None:
    with pytest.raises(UsageError, match="invalid environment variable: =x"):
        _build_args(["=x"])
