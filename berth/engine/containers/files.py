"""The per-container files bind-mounted into it: /etc/hostname, /etc/hosts, /etc/resolv.conf."""

from __future__ import annotations

import os
from pathlib import Path

from berth.engine.containers import defaults

_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def host_resolv_conf(
    dns: list[str] | None, search: list[str] | None, opts: list[str] | None
) -> str:
    """The host's resolv.conf without loopback resolvers (unreachable from a container's
    own network namespace), with --dns/--dns-search/--dns-option applied; where the
    container gives none, the daemon's (daemon.json's dns, dns-search, dns-opts), as
    dockerd does."""
    d = defaults.current()
    dns, search, opts = dns or list(d.dns), search or list(d.dns_search), opts or list(d.dns_opts)
    lines: list[str] = []
    try:
        host = Path(d.resolv_conf).read_text().splitlines()
    except OSError:
        host = []
    for ln in host:
        parts = ln.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "nameserver" and (dns or parts[1].startswith(("127.", "::1"))):
            continue
        if parts[0] in ("search", "domain") and search:
            continue
        if parts[0] == "options" and opts:
            continue
        lines.append(ln)
    lines += [f"nameserver {d}" for d in dns or []]
    if search:
        lines.append("search " + " ".join(search))
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def write_all(
    cdir: Path, hostname: str, domainname: str, extra_hosts: list[str] | None, resolv: str
) -> tuple[str, str, str]:
    """Write the three files into the container's directory; returns their paths."""
    full = f"{hostname}.{domainname}" if domainname else hostname
    hosts = _HOSTS
    for eh in extra_hosts or []:
        name, _, ip = eh.partition(":")
        hosts += f"{ip}\t{name}\n"
    paths = (cdir / "hostname", cdir / "hosts", cdir / "resolv.conf")
    _write(paths[0], full + "\n")
    _write(paths[1], hosts)
    _write(paths[2], resolv)
    return str(paths[0]), str(paths[1]), str(paths[2])
