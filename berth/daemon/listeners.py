"""The daemon's sockets: unix (0660 root:GROUP), tcp (loopback, or TLS), fd:// (systemd).

Each listener serves the API through its own connection callback, bound to the
access policy given for its host (`--policy HOST=POLICY`). TCP listeners (from
`-H tcp://` or passed by systemd) are checked the same way: beyond loopback only
with --tlsverify; plain TCP on loopback starts with dockerd's warnings. TLS is served
by `berth.daemon.tlsserve` (a client's close_notify ends only its input)."""

from __future__ import annotations

import asyncio
import grp
import ipaddress
import logging
import os
import socket
import ssl
import stat
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from berth.daemon.config import ConfigError, DaemonConfig

log = logging.getLogger("berthd")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SD_LISTEN_FDS_START = 3

# dockerd's words (daemon/command/daemon.go, loadListeners) for TCP without --tlsverify
WARN_NO_TLSVERIFY = (
    "Binding to IP address without --tlsverify is insecure and gives root access on this "
    "machine to everyone who has access to your network."
)
WARN_BROWSER = (
    "Binding to an IP address, even on localhost, can also give access to scripts run in "
    "a browser. Be safe out there!"
)


class Policy(Protocol):
    name: str

    def allows_everything(self) -> bool: ...


class APIServer(Protocol):
    """berth.api.http.server.HTTPServer, as the listeners use it."""

    def handler(self, policy: Any = None) -> Handler: ...


def parse_host(host: str) -> tuple[str, str]:
    """("unix", path) | ("tcp", "addr:port") | ("fd", spec)."""
    if "://" not in host:
        raise ConfigError(f"invalid host {host!r}: expected unix://, tcp:// or fd://")
    scheme, rest = host.split("://", 1)
    if scheme == "unix":
        return "unix", rest or "/var/run/berth.sock"
    if scheme == "tcp":
        if not rest:
            raise ConfigError(f"invalid host {host!r}: missing address")
        return "tcp", rest
    if scheme == "fd":
        return "fd", rest
    raise ConfigError(f"invalid host {host!r}: unsupported scheme {scheme}")


def _is_loopback(addr: str) -> bool:
    if addr in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(addr.strip("[]")).is_loopback
    except ValueError:
        return False


def _tls_context(cfg: DaemonConfig) -> ssl.SSLContext | None:
    if not (cfg.tls or cfg.tlsverify):
        return None
    if not (cfg.tlscert and cfg.tlskey):
        raise ConfigError("TLS needs --tlscert and --tlskey")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tlscert, cfg.tlskey)
    if cfg.tlsverify:
        if not cfg.tlscacert:
            raise ConfigError("--tlsverify needs --tlscacert")
        ctx.load_verify_locations(cfg.tlscacert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _split_tcp(addr: str) -> tuple[str, int]:
    u = urlsplit("//" + addr)
    if u.port is None:
        raise ConfigError(f"invalid tcp address {addr!r}: missing port")
    return u.hostname or "127.0.0.1", u.port


def _check_tcp(h: str, host: str, cfg: DaemonConfig) -> None:
    """Refuse TCP beyond loopback without TLS client verification."""
    if not _is_loopback(host) and not cfg.tlsverify:
        raise ConfigError(
            f"refusing to listen on {h} without TLS client verification: anyone who "
            "can reach it would control this host as root. Use a loopback address "
            "(tcp://127.0.0.1:PORT) or --tlsverify with --tlscacert/--tlscert/--tlskey"
        )


def _sock_host(sock: socket.socket) -> str:
    return str(sock.getsockname()[0])


def _is_tcp(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6)


def check(cfg: DaemonConfig) -> None:
    """Refuse an unsafe configuration before anything is started."""
    _tls_context(cfg)
    for h in cfg.hosts:
        kind, rest = parse_host(h)
        if kind == "tcp":
            host, _ = _split_tcp(rest)
            _check_tcp(h, host, cfg)
        elif kind == "fd":
            for sock in _systemd_fds(rest):
                try:
                    if _is_tcp(sock):
                        _check_tcp(f"{h} ({_sock_host(sock)})", _sock_host(sock), cfg)
                finally:
                    sock.detach()  # only looked at: the fd stays open for start()


def _group_may_pass(sock_path: str, gid: int, exec_root: str) -> None:
    """The exec root is root's alone (0700, set by the engine at every start). A socket
    placed inside it would be out of the group's reach: the directories from the exec root
    down to the socket let GID pass (g+x, group GID), and list nothing for it."""
    root = os.path.realpath(exec_root)
    d = os.path.dirname(os.path.realpath(sock_path))
    if d != root and not d.startswith(root + os.sep):
        return
    while True:
        os.chown(d, -1, gid)
        os.chmod(d, stat.S_IMODE(os.stat(d).st_mode) | stat.S_IXGRP)
        if d == root:
            return
        d = os.path.dirname(d)


def _unix_socket(path: str, group: str, exec_root: str = "") -> socket.socket:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode):
            os.unlink(path)  # stale: the pid file lock already proved no daemon owns it
        else:
            raise ConfigError(f"{path} exists and is not a socket")
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # no window in which the socket is world-accessible
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning(
            "group %r not found: %s is accessible to root only. To let users in, create the "
            "group (groupadd %s), add them to it (usermod -aG %s USER) and restart berthd",
            group,
            path,
            group,
            group,
        )
        os.chmod(path, 0o600)
    else:
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
        if exec_root:
            _group_may_pass(path, gid, exec_root)
    sock.listen(1024)
    return sock


def _systemd_fds(spec: str) -> list[socket.socket]:
    if os.environ.get("LISTEN_PID") not in (None, str(os.getpid())):
        raise ConfigError("fd://: LISTEN_PID does not match this process")
    n = int(os.environ.get("LISTEN_FDS", "0") or 0)
    if n <= 0:
        raise ConfigError("fd://: no sockets were passed (LISTEN_FDS is not set)")
    fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n))
    if spec:
        want = int(spec)
        if want not in fds:
            raise ConfigError(f"fd://{spec}: not among the sockets passed by systemd")
        fds = [want]
    socks = []
    for fd in fds:
        try:
            socks.append(socket.socket(fileno=fd))
        except OSError as exc:
            for s in socks:
                s.detach()
            raise ConfigError(f"fd://: descriptor {fd} is not a socket ({exc.strerror})") from None
    return socks


class Listeners:
    def __init__(self, cfg: DaemonConfig, policies: Mapping[str, Policy] | None = None) -> None:
        self.cfg = cfg
        self.policies: Mapping[str, Policy] = policies or {}
        self.servers: list[asyncio.base_events.Server] = []
        self.unix_paths: list[str] = []

    async def start(self, server: APIServer) -> None:
        tls = _tls_context(self.cfg)
        if tls is not None:  # the TLS server's code only when TLS is configured
            from berth.daemon import tlsserve
        for h in self.cfg.hosts:
            policy = self.policies.get(h)
            handler = server.handler(policy)
            kind, rest = parse_host(h)
            if kind == "unix":
                sock = _unix_socket(rest, self.cfg.group, self.cfg.exec_root)
                self.unix_paths.append(rest)
                srvs = [await asyncio.start_unix_server(handler, sock=sock)]
            elif kind == "tcp":
                host, port = _split_tcp(rest)
                _check_tcp(h, host, self.cfg)
                self._warn_tcp(h, host)
                if tls is not None:
                    srvs = [await tlsserve.start_tls_server(handler, tls, host=host, port=port)]
                else:
                    srvs = [
                        await asyncio.start_server(
                            handler, host, port, reuse_address=True, backlog=1024
                        )
                    ]
            else:
                srvs = []
                for sock in _systemd_fds(rest):
                    if sock.family == socket.AF_UNIX:
                        srvs.append(await asyncio.start_unix_server(handler, sock=sock))
                        continue
                    label = f"{h} ({_sock_host(sock)})"
                    _check_tcp(label, _sock_host(sock), self.cfg)
                    self._warn_tcp(label, _sock_host(sock))
                    if tls is not None:
                        srvs.append(await tlsserve.start_tls_server(handler, tls, sock=sock))
                    else:
                        srvs.append(await asyncio.start_server(handler, sock=sock))
            self.servers += srvs
            name = policy.name if policy is not None else "full"
            log.info("API listening on %s (policy %s)", h, name)

    def _warn_tcp(self, h: str, host: str) -> None:
        if self.cfg.tlsverify:
            if not _is_loopback(host):
                log.info("listening on %s with TLS client verification", h)
            return
        log.warning("%s host=%s", WARN_NO_TLSVERIFY, h)
        log.warning("%s host=%s", WARN_BROWSER, h)

    async def close(self) -> None:
        for srv in self.servers:
            srv.close()
        for path in self.unix_paths:
            try:
                os.unlink(path)
            except OSError:
                pass
