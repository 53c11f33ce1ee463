"""`berth build`: docker build with the classic builder (DOCKER_BUILDKIT=0), same flags.

The context is prepared here by docker/cli's rules (berth/client/buildcontext.py), sent
as POST /build's body, and the daemon's JSON lines are shown: on a terminal as a live
view (the step being run, the tail of its output, pull bars), elsewhere as exactly the
text docker prints. A failed step ends the command with its error code (a RUN's exit
status), as docker's cli.StatusError does.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import IO, Any

from berth.cli.commands import buildoutput as bo
from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

BUILD = Command(
    "build",
    "berth build [OPTIONS] PATH | URL | -",
    "Build an image from a Dockerfile",
    [
        Flag("add-host", "", "list", help='Add a custom host-to-IP mapping ("host:ip")'),
        Flag("build-arg", "", "list", help="Set build-time variables"),
        Flag("cache-from", "", "list", help="Images to consider as cache sources"),
        Flag("cgroup-parent", "", "str", "",
             help='Set the parent cgroup for the "RUN" instructions during build'),
        Flag("compress", "", help="Compress the build context using gzip"),
        Flag("cpu-period", "", "int", 0,
             help="Limit the CPU CFS (Completely Fair Scheduler) period"),
        Flag("cpu-quota", "", "int", 0, help="Limit the CPU CFS (Completely Fair Scheduler) quota"),
        Flag("cpu-shares", "c", "int", 0, help="CPU shares (relative weight)"),
        Flag("cpuset-cpus", "", "str", "", help="CPUs in which to allow execution (0-3, 0,1)"),
        Flag("cpuset-mems", "", "str", "", help="MEMs in which to allow execution (0-3, 0,1)"),
        Flag("disable-content-trust", "", default=True, help="Skip image verification (deprecated)"),
        Flag("file", "f", "str", "", help='Name of the Dockerfile (Default is "PATH/Dockerfile")'),
        Flag("force-rm", "", help="Always remove intermediate containers"),
        Flag("iidfile", "", "str", "", help="Write the image ID to the file"),
        Flag("isolation", "", "str", "", help="Container isolation technology"),
        Flag("label", "", "list", help="Set metadata for an image"),
        Flag("memory", "m", "str", "", metavar="bytes", help="Memory limit"),
        Flag("memory-swap", "", "str", "", metavar="bytes",
             help="Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
        Flag("network", "", "str", "default",
             help="Set the networking mode for the RUN instructions during build"),
        Flag("no-cache", "", help="Do not use cache when building the image"),
        Flag("platform", "", "str", os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
             help="Set platform if server is multi-platform capable"),
        Flag("pull", "", help="Always attempt to pull a newer version of the image"),
        Flag("quiet", "q", help="Suppress the build output and print image ID on success"),
        Flag("rm", "", default=True, help="Remove intermediate containers after a successful build"),
        Flag("security-opt", "", "list", help="Security options"),
        Flag("shm-size", "", "str", "", metavar="bytes", help='Size of "/dev/shm"'),
        Flag("squash", "", help="Squash newly built layers into a single new layer"),
        Flag("tag", "t", "list", help='Name and optionally a tag in the "name:tag" format'),
        Flag("target", "", "str", "", help="Set the target build stage to build."),
        Flag("ulimit", "", "list", help="Ulimit options"),
    ],
    min_args=1,
    max_args=1,
)  # fmt: skip

# distribution/reference's grammar, near enough to refuse what the daemon would
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"  # noqa: E501
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
_ULIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
            "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}  # fmt: skip


def _bad(flag: str, raw: str, why: str) -> Exception:
    return BUILD.usage_error(f'invalid argument "{raw}" for "{flag}" flag: {why}')


def _tag(raw: str) -> str:
    """validateTag: reference.ParseNormalizedNamed must accept it."""
    if _REFERENCE.match(raw):
        return raw
    name = raw.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    why = "invalid reference format"
    if _REFERENCE.match(raw.lower()) and name != name.lower():
        why += f": repository name ({name}) must be lowercase"
    raise _bad("-t, --tag", raw, why)


def _size(flag: str, raw: str, swap: bool = False) -> int | None:
    from berth.cli.units import ram_in_bytes

    if not raw:
        return None
    if swap and raw == "-1":
        return -1
    try:
        return ram_in_bytes(raw)
    except ValueError as exc:
        raise _bad(flag, raw, str(exc)) from None


def _ulimit(raw: str) -> dict[str, Any]:
    """units.ParseUlimit: name=soft[:hard]."""
    name, eq, vals = raw.partition("=")
    if not eq:
        raise _bad("--ulimit", raw, f"invalid ulimit argument: {raw}")
    if name not in _ULIMITS:
        raise _bad("--ulimit", raw, f"invalid ulimit type: {name}")
    soft_s, colon, hard_s = vals.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if colon else soft
    except ValueError:
        raise _bad("--ulimit", raw, f"invalid ulimit argument: {raw}") from None
    if soft > hard:
        why = f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        raise _bad("--ulimit", raw, why)
    return {"Name": name, "Soft": soft, "Hard": hard}


def _build_args(items: list[str]) -> dict[str, str | None]:
    """ValidateEnv then ConvertKVStringsToMapWithNil: KEY alone takes the value from this
    environment when set, else travels as null (the Dockerfile's default then applies)."""
    out: dict[str, str | None] = {}
    for item in items:
        if item.startswith("="):
            raise _bad("--build-arg", item, f"invalid environment variable: {item}")
        key, eq, val = item.partition("=")
        if eq:
            out[key] = val
        else:
            out[key] = os.environ.get(key)
    return out


def _labels(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, val = item.partition("=")
        if not key.strip():
            raise _bad("--label", item, f"invalid label '{item}': empty name")
        out[key] = val
    return out


def _extra_host(raw: str) -> str:
    """ValidateExtraHost: host:ip or host=ip, sent as host:ip."""
    host, eq, ip = raw.partition("=")
    if not eq:
        host, eq, ip = raw.partition(":")
    if not eq or not host or not ip:
        raise _bad("--add-host", raw, f'bad format for add-host: "{raw}"')
    return f"{host}:{ip}"


def _query(opts: SimpleNamespace, dockerfile: str) -> dict[str, Any]:
    """imageBuildOptionsToQuery, for the classic builder (version 1)."""
    if opts.security_opt:
        # the Engine API's build has no field for it (dockerd takes it on Windows only):
        # refused, rather than taken and dropped
        raise _bad(
            "--security-opt",
            opts.security_opt[0],
            "--security-opt is not supported by the classic builder on Linux",
        )
    cache_from = [c for v in opts.cache_from for c in v.split(",") if c]
    return {
        "t": [_tag(t) for t in opts.tag] or None,
        "dockerfile": dockerfile or None,
        "q": opts.quiet or None,
        "nocache": opts.no_cache or None,
        "rm": opts.rm,
        "forcerm": opts.force_rm or None,
        "pull": opts.pull or None,
        "squash": opts.squash or None,
        "isolation": opts.isolation or None,
        "target": opts.target or None,
        "platform": opts.platform or None,
        "networkmode": opts.network or None,
        "cpusetcpus": opts.cpuset_cpus or None,
        "cpusetmems": opts.cpuset_mems or None,
        "cpushares": opts.cpu_shares or None,
        "cpuquota": opts.cpu_quota or None,
        "cpuperiod": opts.cpu_period or None,
        "memory": _size("-m, --memory", opts.memory),
        "memswap": _size("--memory-swap", opts.memory_swap, swap=True),
        "shmsize": _size("--shm-size", opts.shm_size),
        "cgroupparent": opts.cgroup_parent or None,
        "buildargs": _build_args(opts.build_arg) if opts.build_arg else None,
        "labels": _labels(opts.label) if opts.label else None,
        "ulimits": [_ulimit(u) for u in opts.ulimit] or None,
        "cachefrom": cache_from or None,
        "extrahosts": [_extra_host(h) for h in opts.add_host] or None,
        "version": "1",
    }


def _registry_config() -> dict[str, Any]:
    """GetAllCredentials: every registry with stored credentials, for FROM's pulls (an
    unreadable store is ignored, as docker ignores it)."""
    from berth.cli.commands import registry

    try:
        doc = registry._load()
    except StatusError:
        return {}
    keys = set(doc.get("auths") or {}) | set(doc.get("credHelpers") or {})
    out: dict[str, Any] = {}
    for key in sorted(keys):
        try:
            creds = registry.get_credentials(key)
        except (StatusError, ValueError):
            continue
        if creds:
            out[key] = creds
    return out


# ---- the context ----------------------------------------------------------------------
def _context(ctx: Context, spec: str, dockerfile: str) -> Any:
    """build.go's switch on the context type: the BuildContext to send."""
    from berth.client import buildcontext as bc

    kind = bc.detect_type(spec)
    from_stdin = dockerfile == "-"
    if from_stdin and kind == "stdin":
        raise StatusError(
            1, "invalid argument: can't use stdin for both build context and dockerfile"
        )
    if kind == "stdin":
        try:
            return bc.from_reader(os.fdopen(os.dup(0), "rb"), dockerfile)
        except bc.ContextError as exc:
            raise bc.ContextError(f"unable to prepare context from STDIN: {exc}") from None
    if kind == "remote":
        return bc.from_url(spec, dockerfile)
    cleanup = None
    if kind == "git":
        context_dir, cleanup = _git_checkout(spec)
    try:
        try:
            if kind == "git":
                rel = bc.dockerfile_rel_path(context_dir, dockerfile)
                if rel.startswith("../"):
                    raise bc.ContextError(
                        f"the Dockerfile ({dockerfile}) must be within the build context"
                    )
            else:
                context_dir, rel = bc.local_dir(spec, dockerfile)
        except bc.ContextError as exc:
            raise bc.ContextError(f"unable to prepare context: {exc}") from None
        out = bc.from_directory(context_dir, rel, _dockerfile_data(dockerfile, rel))
    except BaseException:
        if cleanup is not None:
            cleanup()
        raise
    if cleanup is not None:
        out.cleanups.append(cleanup)
    return out


def _git_checkout(spec: str) -> tuple[str, Callable[[], None]]:
    """The checked-out context directory of a git URL, and what removes the checkout."""
    import shutil

    from berth.client import buildcontext as bc

    try:
        root, context_dir = bc.git_checkout(spec)
    except bc.ContextError as exc:
        raise bc.ContextError(
            f"unable to prepare context: unable to 'git clone' to temporary context "
            f"directory: {exc}"
        ) from None

    def cleanup() -> None:
        shutil.rmtree(root, ignore_errors=True)

    return context_dir, cleanup


def _dockerfile_data(dockerfile: str, rel: str) -> bytes | None:
    """The Dockerfile's text to send with the context, when it is not inside it: "-" reads
    stdin; one outside the context is read here and sent inside, under a random name."""
    from berth.client import buildcontext as bc

    if dockerfile == "-":
        return sys.stdin.buffer.read()
    if not rel.startswith("../"):
        return None
    try:
        with open(dockerfile, "rb") as f:
            return f.read()
    except OSError as exc:
        why = f"open {dockerfile}: {(exc.strerror or str(exc)).lower()}"
        raise bc.ContextError(f"unable to open Dockerfile: {why}") from None


# ---- the command --------------------------------------------------------------------------
def build(ctx: Context, argv: list[str]) -> int:
    """Prepare the context, POST /build, show the stream; -q prints only the image id."""
    import io

    from berth.client.buildcontext import ContextError, gzipped

    opts, args = parse(BUILD, argv)
    query = _query(opts, "")
    if opts.iidfile:
        _remove_iidfile(opts.iidfile)
    try:
        context = _context(ctx, args[0], opts.file)
    except ContextError as exc:
        raise StatusError(1, str(exc)) from None
    tty = not opts.quiet and ctx.stdout_is_tty()
    # -q collects the output, shown on stderr only if the build fails (as docker does)
    prog: IO[str] = io.StringIO() if opts.quiet else sys.stdout
    out: IO[str] = io.StringIO() if opts.quiet else sys.stdout
    result = bo.Result()
    view = bo.LiveView(sys.stdout) if tty else None

    def plain_progress(sent: int, last: bool) -> None:
        # not on a terminal docker shows only the upload's last update
        if last:
            prog.write(bo.sent_line(sent) + "\r\r\n")
            prog.flush()

    try:
        query["dockerfile"] = context.dockerfile or None
        body: Iterable[bytes] = context.chunks
        if opts.compress:
            body = gzipped(body)
        body = bo.counted(body, view.progress if view is not None else plain_progress)
        _post(ctx, body, query, view, out, result)
    except BaseException as exc:
        if isinstance(prog, io.StringIO) and isinstance(out, io.StringIO):
            sys.stderr.write(prog.getvalue() + out.getvalue())
        if isinstance(exc, bo.Failed):
            raise StatusError(exc.code, exc.message) from None
        raise
    finally:
        context.close()
    image_id = result.image_id
    if isinstance(out, io.StringIO):
        # under q=1 the daemon's only stream text is the id
        image_id = out.getvalue()
        sys.stdout.write(image_id)
    if opts.iidfile:
        _write_iidfile(opts.iidfile, image_id)
    return 0


def _post(
    ctx: Context,
    body: Iterable[bytes],
    query: dict[str, Any],
    view: bo.LiveView | None,
    out: IO[str],
    result: bo.Result,
) -> None:
    """POST /build with the context as its body, showing the stream as it comes."""
    if view is not None:
        view.__enter__()
    try:
        with ctx.client.build(body, query, _registry_config()) as resp:
            msgs = bo.messages(resp.iter_json_lines(), result)
            if view is not None:
                view.show(msgs)
            else:
                bo.plain(msgs, out)
    finally:
        if view is not None:
            view.__exit__()


def _remove_iidfile(path: str) -> None:
    """No stale id from an earlier build if this one fails."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StatusError(1, f"removing image ID file: {exc}") from None


def _write_iidfile(path: str, image_id: str) -> None:
    if not image_id:
        raise StatusError(1, f"server did not provide an image ID. Cannot write {path}")
    with open(path, "w") as f:
        f.write(image_id)
