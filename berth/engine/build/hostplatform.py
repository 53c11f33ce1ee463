"""The one platform berth builds for: the host's."""

from __future__ import annotations

from berth.engine.errors import InvalidParameter


def _host_platform() -> str:
    from berth.engine.images.archive import host_arch

    return f"linux/{host_arch()}"


def check_platform(value: str) -> None:
    """berth runs what the host runs: another platform is refused, not emulated."""
    if not value:
        return
    want = value.lower().split("/")
    host = _host_platform().split("/")
    if want[0] != "linux" or (len(want) > 1 and want[1] != host[1]):
        raise InvalidParameter(
            f'"{value}": the host is {_host_platform()} and berth does not emulate other platforms'
        )


def host_os_arch() -> tuple[str, str]:
    from berth.engine.images.archive import host_arch

    return "linux", host_arch()
