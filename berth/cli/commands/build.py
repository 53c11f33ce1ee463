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
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import IO, Any

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

_SENDING = "Sending build context to berth daemon"
_STEP = re.compile(r"Step \d+/\d+ : ")
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
        try:
            root, context_dir = bc.git_checkout(spec)
        except bc.ContextError as exc:
            raise bc.ContextError(
                f"unable to prepare context: unable to 'git clone' to temporary context "
                f"directory: {exc}"
            ) from None
        import shutil

        def cleanup() -> None:
            shutil.rmtree(root, ignore_errors=True)

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
        data = None
        if from_stdin:
            data = sys.stdin.buffer.read()
        elif rel.startswith("../"):
            # outside the context: read it here and send it inside, under a random name
            try:
                with open(dockerfile, "rb") as f:
                    data = f.read()
            except OSError as exc:
                why = f"open {dockerfile}: {(exc.strerror or str(exc)).lower()}"
                raise bc.ContextError(f"unable to open Dockerfile: {why}") from None
        out = bc.from_directory(context_dir, rel, data)
    except BaseException:
        if cleanup is not None:
            cleanup()
        raise
    if cleanup is not None:
        out.cleanups.append(cleanup)
    return out


def _counted(chunks: Iterable[bytes], progress: Any) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        progress(sent, False)
        yield chunk
    progress(sent, True)


def _sent(n: int) -> str:
    from berth.cli.units import human_size

    # JSONProgress.String() without a total: "%8v" of go-units HumanSize
    return f"{_SENDING} {human_size(n):>8}"


# ---- the stream --------------------------------------------------------------------------
@dataclass
class _Failed(Exception):
    message: str
    code: int


class _Result:
    """What the stream said besides its text: the image id (aux)."""

    def __init__(self) -> None:
        self.image_id = ""


def _messages(stream: Iterable[Any], result: _Result) -> Iterator[dict[str, Any]]:
    """The displayable messages; aux goes to RESULT, an error message ends the stream."""
    for msg in stream:
        if not isinstance(msg, dict):
            continue
        err = msg.get("errorDetail") or {}
        if msg.get("error") or err.get("message"):
            raise _Failed(str(err.get("message") or msg.get("error")), int(err.get("code") or 1))
        if "aux" in msg:
            aux = msg.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                result.image_id = aux["ID"]
            continue
        yield msg


def _plain(msgs: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """docker's jsonmessage display, not on a terminal: stream text as it is, status lines
    as "id: status", progress updates left out."""
    for msg in msgs:
        if "stream" in msg:
            out.write(str(msg["stream"]))
            out.flush()
            continue
        status = msg.get("status")
        if status is None or msg.get("progressDetail"):
            continue
        ident = msg.get("id")
        out.write(f"{ident}: {status}\n" if ident else f"{status}\n")
        out.flush()


class _LiveView:
    """The terminal view: finished steps are printed as docker prints them; below them,
    the step being run (spinner, elapsed time), the tail of its output and pull bars."""

    TAIL = 10

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
        from rich.spinner import Spinner

        self.console = Console(file=out, highlight=False, soft_wrap=True)
        self.bars = Progress(
            TextColumn("  {task.fields[ident]}:"),
            TextColumn("{task.description:<20}"),
            BarColumn(),
            DownloadColumn(),
            console=self.console,
        )
        self.tasks: dict[str, Any] = {}
        self.spinner = Spinner("dots", "")
        self.sending = ""
        self.step = ""
        self.step_start = time.monotonic()
        self.text: list[str] = []  # the current step's text, printed when it is done
        self.live = Live(self, console=self.console, refresh_per_second=8, transient=True)

    def __enter__(self) -> _LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.live.stop()

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = []
        if self.sending:
            parts.append(Text(self.sending))
        if self.step:
            took = time.monotonic() - self.step_start
            # the time first: a long step line is cut at the terminal's edge
            head = Text.assemble((f"[{took:5.1f}s] ", "dim"), (self.step, "bold"))
            head.no_wrap, head.overflow = True, "ellipsis"
            self.spinner.update(text=head)
            parts.append(self.spinner)
            lines = [ln.rsplit("\r", 1)[-1] for ln in "".join(self.text[1:]).splitlines()]
            for ln in lines[-self.TAIL :]:
                parts.append(Text("  " + ln, style="dim", no_wrap=True, overflow="ellipsis"))
        if self.tasks:
            parts.append(self.bars)
        return Group(*parts)

    def print(self, text: str) -> None:
        from rich.text import Text

        clean = "\n".join(ln.rsplit("\r", 1)[-1] for ln in text.split("\n"))
        self.console.print(Text(clean), end="")

    def flush(self) -> None:
        """Print the current step's text for good and forget its bars."""
        if self.text:
            self.print("".join(self.text))
        self.text = []
        self.step = ""
        for task in self.tasks.values():
            self.bars.remove_task(task)
        self.tasks.clear()

    def progress(self, sent: int, last: bool) -> None:
        self.sending = "" if last else _sent(sent)
        if last:
            self.print(_sent(sent) + "\n")

    def show(self, msgs: Iterable[dict[str, Any]]) -> None:
        for msg in msgs:
            if "stream" in msg:
                text = str(msg["stream"])
                if _STEP.match(text):
                    self.flush()
                    self.step = text.strip()
                    self.step_start = time.monotonic()
                    self.text = [text]
                elif text.startswith("Successfully "):
                    self.flush()
                    self.print(text)
                else:
                    self.text.append(text)
                continue
            status = msg.get("status")
            if status is None:
                continue
            ident = msg.get("id")
            detail = msg.get("progressDetail") or {}
            if ident and (detail or ident in self.tasks):
                self._bar(str(ident), str(status), detail)
            if not detail:
                self.text.append(f"{ident}: {status}\n" if ident else f"{status}\n")

    def _bar(self, ident: str, status: str, detail: dict[str, Any]) -> None:
        task = self.tasks.get(ident)
        if task is None:
            task = self.tasks[ident] = self.bars.add_task(status, total=None, ident=ident)
        update: dict[str, Any] = {"description": status}
        if isinstance(detail.get("total"), int) and detail["total"] > 0:
            update["total"] = detail["total"]
        if isinstance(detail.get("current"), int):
            update["completed"] = detail["current"]
        self.bars.update(task, **update)


# ---- the command --------------------------------------------------------------------------
def build(ctx: Context, argv: list[str]) -> int:
    """Prepare the context, POST /build, show the stream; -q prints only the image id."""
    import io

    from berth.client.buildcontext import ContextError, gzipped

    opts, args = parse(BUILD, argv)
    query = _query(opts, "")
    if opts.iidfile:
        # no stale id from an earlier build if this one fails
        try:
            os.unlink(opts.iidfile)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StatusError(1, f"removing image ID file: {exc}") from None
    try:
        context = _context(ctx, args[0], opts.file)
    except ContextError as exc:
        raise StatusError(1, str(exc)) from None
    tty = not opts.quiet and ctx.stdout_is_tty()
    # -q collects the output, shown on stderr only if the build fails (as docker does)
    prog: IO[str] = io.StringIO() if opts.quiet else sys.stdout
    out: IO[str] = io.StringIO() if opts.quiet else sys.stdout
    result = _Result()
    view = _LiveView(sys.stdout) if tty else None

    def plain_progress(sent: int, last: bool) -> None:
        # not on a terminal docker shows only the upload's last update
        if last:
            prog.write(_sent(sent) + "\r\r\n")
            prog.flush()

    try:
        query["dockerfile"] = context.dockerfile or None
        body: Iterable[bytes] = context.chunks
        if opts.compress:
            body = gzipped(body)
        body = _counted(body, view.progress if view is not None else plain_progress)
        if view is not None:
            view.__enter__()
        try:
            with ctx.client.build(body, query, _registry_config()) as resp:
                msgs = _messages(resp.iter_json_lines(), result)
                if view is not None:
                    view.show(msgs)
                else:
                    _plain(msgs, out)
        finally:
            if view is not None:
                view.__exit__()
    except BaseException as exc:
        if isinstance(prog, io.StringIO) and isinstance(out, io.StringIO):
            sys.stderr.write(prog.getvalue() + out.getvalue())
        if isinstance(exc, _Failed):
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
        if not image_id:
            raise StatusError(1, f"server did not provide an image ID. Cannot write {opts.iidfile}")
        with open(opts.iidfile, "w") as f:
            f.write(image_id)
    return 0
