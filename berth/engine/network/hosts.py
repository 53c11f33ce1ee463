"""/etc/hosts for containers on networks: their own address, and on user-defined networks
every other running container by name, alias and short id. Rewritten in place (the file
is bind-mounted: a rename would leave the container with the old inode)."""

from __future__ import annotations

from berth.engine.containers.files import _HOSTS


def render(
    hostname: str,
    extra: list[str] | None,
    own: list[str],
    peers: list[tuple[str, list[str]]],
    host_gateway: str = "",
) -> str:
    text = _HOSTS
    for eh in extra or []:
        name, _, ip = eh.partition(":")
        # --add-host NAME:host-gateway: the host's address on the default bridge
        text += f"{host_gateway if ip == 'host-gateway' and host_gateway else ip}\t{name}\n"
    for ip in own:
        text += f"{ip}\t{hostname}\n"
    for ip, names in peers:
        text += f"{ip}\t{' '.join(names)}\n"
    return text


def write_in_place(path: str, text: str) -> None:
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()
