"""load, save, import, pull: images in and out as tar streams."""

from __future__ import annotations

import os
import sys

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

LOAD = Command(
    "load",
    "berth load [OPTIONS]",
    "Load an image from a tar archive or STDIN",
    [
        Flag("input", "i", "str", "", help="Read from tar archive file, instead of STDIN"),
        Flag("quiet", "q", help="Suppress the load output"),
        Flag("platform", "", "list", help="Load only the given platforms"),
    ],
    max_args=0,
)
SAVE = Command(
    "save",
    "berth save [OPTIONS] IMAGE [IMAGE...]",
    "Save one or more images to a tar archive (streamed to STDOUT by default)",
    [
        Flag("output", "o", "str", "", help="Write to a file, instead of STDOUT"),
        Flag("platform", "", "list", help="Save only the given platforms"),
    ],
    min_args=1,
)
IMPORT = Command(
    "import",
    "berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    "Import the contents from a tarball to create a filesystem image",
    [
        Flag("change", "c", "list", help="Apply Dockerfile instruction to the created image"),
        Flag("message", "m", "str", "", help="Set commit message for imported image"),
        Flag("platform", "", "str", "", help="Set platform if server is multi-platform capable"),
    ],
    min_args=1,
    max_args=2,
)
PULL = Command(
    "pull",
    "berth pull [OPTIONS] NAME[:TAG|@DIGEST]",
    "Download an image from a registry",
    [
        Flag("all-tags", "a", help="Download all tagged images in the repository"),
        Flag("platform", "", "str", "", help="Set platform if server is multi-platform capable"),
        Flag("quiet", "q", help="Suppress verbose output"),
    ],
    min_args=1,
    max_args=1,
)


def load(ctx: Context, argv: list[str]) -> int:
    """Stream a tar (file or stdin) to POST /images/load and show what it says."""
    from berth.cli import progress

    opts, _ = parse(LOAD, argv)
    if opts.input:
        try:
            src = open(opts.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise StatusError(1, f"open {opts.input}: {(exc.strerror or '').lower()}") from None
    else:
        if ctx.stdin_is_tty():
            raise StatusError(1, "requested load from stdin, but stdin is empty")
        src = os.fdopen(os.dup(0), "rb")
    try:
        # Like docker: progress bars only make sense on a terminal, so ask for none otherwise.
        quiet = opts.quiet or not ctx.stdout_is_tty()
        with ctx.client.load(src, quiet) as resp:
            progress.show(resp.iter_json_lines(), sys.stdout, tty=not quiet)
    finally:
        src.close()
    return 0


def save(ctx: Context, argv: list[str]) -> int:
    """GET /images/get into a file (written atomically) or a non-terminal stdout."""
    opts, args = parse(SAVE, argv)
    if not opts.output and ctx.stdout_is_tty():
        raise StatusError(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect")
    with ctx.client.save(args) as resp:
        if not opts.output:
            from berth.client.streams import write_all

            for chunk in resp.iter_content():
                write_all(1, chunk)
            return 0
        path = os.path.abspath(opts.output)
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                for chunk in resp.iter_content():
                    f.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    return 0


def import_(ctx: Context, argv: list[str]) -> int:
    """POST /images/create?fromSrc=- with a file's (or stdin's) tar; prints the new image id."""
    from berth.cli import progress
    from berth.cli.commands.common import split_repo_tag

    opts, args = parse(IMPORT, argv)
    source = args[0]
    repo = tag = None
    if len(args) > 1:
        repo, tag = split_repo_tag(args[1])
    if source.startswith(("http://", "https://")):
        raise StatusError(1, "importing from a URL is not supported by berth yet")
    try:
        src = os.fdopen(os.dup(0), "rb") if source == "-" else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise StatusError(1, f"open {source}: {(exc.strerror or '').lower()}") from None
    try:
        with ctx.client.import_image(
            src, repo, tag, opts.change, opts.message or None, opts.platform or None
        ) as resp:
            progress.show(resp.iter_json_lines(), sys.stdout)
    finally:
        src.close()
    return 0


def pull(ctx: Context, argv: list[str]) -> int:
    """POST /images/create?fromImage=... and show the progress."""
    from berth.cli import progress
    from berth.cli.commands.common import pull_params, split_repo_tag, with_latest

    opts, args = parse(PULL, argv)
    ref = args[0]
    repo, tag = pull_params(ref)
    if opts.all_tags:
        if "@" in ref or split_repo_tag(ref)[1] is not None:
            raise StatusError(1, "tag can't be used with --all-tags/-a")
        tag = ""
    elif split_repo_tag(ref)[1] is None and "@" not in ref and not opts.quiet:
        ctx.out("Using default tag: latest\n")
    from berth.cli.commands.registry import auth_header, domain_of

    with ctx.client.pull(
        repo, tag or None, opts.platform or None, auth_header(domain_of(repo))
    ) as resp:
        out = open(os.devnull, "w") if opts.quiet else sys.stdout  # noqa: SIM115
        try:
            if not opts.quiet and os.isatty(1):
                progress.show_bars(resp.iter_json_lines(), out)
            else:
                progress.show(resp.iter_json_lines(), out)
        finally:
            if opts.quiet:
                out.close()
    if opts.quiet:
        ctx.out((ref if opts.all_tags else with_latest(ref)) + "\n")
    return 0
