"""Helpers several commands share: filters, ids, names, docker's small string rules."""

from __future__ import annotations

from berth.cli.flags import Command

TYPE_CHECKING = False  # typing is not imported at run time: ~3 ms of the CLI's start
if TYPE_CHECKING:
    from typing import Any


def parse_filters(cmd: Command, values: list[str]) -> dict[str, list[str]]:
    """--filter k=v (repeatable) into the API's filter map."""
    out: dict[str, list[str]] = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not eq or not k:
            raise cmd.usage_error(f"bad format of filter (expected name=value): {v}")
        out.setdefault(k.strip().lower(), []).append(val)
    return out


def short_id(full: str) -> str:
    """docker's TruncateID: drop the algorithm prefix, keep 12 hex digits."""
    return full.split(":", 1)[-1][:12]


def ellipsis(s: str, width: int) -> str:
    """Cut s to width characters, marking the cut with an ellipsis."""
    return s if len(s) <= width else s[: width - 1] + "…"


def go_quote(s: str) -> str:
    """Close to Go's strconv.Quote."""
    import json  # here: its import of re would be every command's

    return json.dumps(s, ensure_ascii=False)


def split_repo_tag(ref: str) -> tuple[str, str | None]:
    """("repo", "tag") of "repo[:tag]" (a colon before the last slash is a registry port);
    a digest reference returns (ref, None)."""
    if "@" in ref:
        return ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def with_latest(ref: str) -> str:
    """The reference with ":latest" added when it names neither tag nor digest."""
    repo, tag = split_repo_tag(ref)
    if tag is None and "@" not in ref:
        return ref + ":latest"
    return ref


def each(ctx: Any, names: list[str], fn: Any, echo: bool = True) -> int:
    """Run fn(name) for every name, printing each name on success and each error on stderr,
    as docker's multi-container commands do; exit status 1 if any failed."""
    from berth.client.errors import APIError, DaemonUnreachable

    failed = False
    for name in names:
        try:
            fn(name)
        except DaemonUnreachable:
            raise
        except APIError as exc:
            failed = True
            ctx.err(f"berth: {exc}")
            continue
        if echo:
            ctx.out(name + "\n")
    return 1 if failed else 0


def pull_params(ref: str) -> tuple[str, str]:
    """(fromImage, tag) for POST /images/create: the tag defaults to latest, a digest
    reference travels in tag, as docker's client sends it."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return split_repo_tag(name)[0], digest
    repo, tag = split_repo_tag(ref)
    return repo, tag or "latest"


def container_path(name: str) -> str:
    """/containers/NAME, the name quoted for the URL."""
    from berth.client.transport import quote_name

    return "/containers/" + quote_name(name)
