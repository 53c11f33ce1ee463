"""The daemon's registry options (insecure registries, mirrors, transfer concurrency),
checked the way dockerd checks them, and the RegistryConfig that /info reports."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import InvalidParameter

DEFAULT_MAX_DOWNLOADS = 3
DEFAULT_MAX_UPLOADS = 5
# dockerd always treats loopback registries as insecure, whatever the configuration.
DEFAULT_INSECURE_CIDRS = ("::1/128", "127.0.0.0/8")
INDEX_NAME = "docker.io"

_HOSTPORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(:[0-9]+)?$")


def validate_mirror(val: str) -> str:
    """A registry mirror URL, normalised with one trailing slash (dockerd's ValidateMirror)."""
    if not isinstance(val, str):
        raise InvalidParameter(f"invalid mirror: {val!r} is not a valid URI")
    try:
        u = urllib.parse.urlsplit(val)
    except ValueError as exc:
        raise InvalidParameter(f'invalid mirror: "{val}" is not a valid URI') from exc
    if u.scheme not in ("http", "https"):
        raise InvalidParameter(f'invalid mirror: unsupported scheme "{u.scheme}" in "{val}"')
    if u.query or u.fragment:
        raise InvalidParameter(f'invalid mirror: query or fragment at end of the URI "{val}"')
    if u.username is not None or u.password is not None:
        raise InvalidParameter(f'invalid mirror: username/password not allowed in URI "{val}"')
    if not u.netloc:
        raise InvalidParameter(f'invalid mirror: "{val}" is not a valid URI')
    return val.rstrip("/") + "/"


def _parse_insecure(val: str) -> tuple[str, str]:
    """("cidr", normalised) or ("host", host[:port]) for one --insecure-registry value."""
    if not isinstance(val, str) or not val:
        raise InvalidParameter(f"insecure registry {val!r} is not valid")
    low = val.lower()
    # dockerd drops an http(s):// prefix with a warning but refuses any other scheme.
    if low.startswith("http://"):
        val = val[7:]
    elif low.startswith("https://"):
        val = val[8:]
    elif "://" in val:
        raise InvalidParameter(f"insecure registry {val} should not contain '://'")
    if "/" in val:
        try:
            return "cidr", str(ipaddress.ip_network(val, strict=False))
        except ValueError as exc:
            raise InvalidParameter(f"insecure registry {val} is not valid") from exc
    if not _HOSTPORT.match(val):
        raise InvalidParameter(f"insecure registry {val} is not valid")
    return "host", val


def _max(val: Any, what: str, default: int) -> int:
    if val is None:
        return default
    if isinstance(val, bool) or not isinstance(val, int):
        raise InvalidParameter(f"invalid max concurrent {what}: {val}")
    if val < 0:
        raise InvalidParameter(f"invalid max concurrent {what}: {val}")
    return val or default


@dataclass
class RegistryOptions:
    """What the daemon was told about registries, validated."""

    insecure_cidrs: list[str] = field(default_factory=lambda: list(DEFAULT_INSECURE_CIDRS))
    insecure_hosts: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = DEFAULT_MAX_DOWNLOADS
    max_concurrent_uploads: int = DEFAULT_MAX_UPLOADS

    @classmethod
    def build(
        cls,
        insecure: list[str] | None = None,
        mirrors: list[str] | None = None,
        max_downloads: Any = None,
        max_uploads: Any = None,
    ) -> RegistryOptions:
        opts = cls()
        for what, seq in (("insecure-registries", insecure), ("registry-mirrors", mirrors)):
            if seq is not None and not isinstance(seq, list):
                raise InvalidParameter(f"{what} must be a list of strings")
        for entry in insecure or []:
            kind, val = _parse_insecure(entry)
            if kind == "cidr":
                if val not in opts.insecure_cidrs:
                    opts.insecure_cidrs.append(val)
            elif val not in opts.insecure_hosts:
                opts.insecure_hosts.append(val)
        for m in mirrors or []:
            norm = validate_mirror(m)
            if norm not in opts.mirrors:
                opts.mirrors.append(norm)
        opts.max_concurrent_downloads = _max(max_downloads, "downloads", DEFAULT_MAX_DOWNLOADS)
        opts.max_concurrent_uploads = _max(max_uploads, "uploads", DEFAULT_MAX_UPLOADS)
        return opts

    def insecure_entries(self) -> list[str]:
        """Host names and CIDRs a registry client treats as insecure (beyond loopback)."""
        return [*self.insecure_hosts, *self.insecure_cidrs]

    def info(self) -> dict[str, Any]:
        """/info's RegistryConfig, shaped like dockerd's."""
        indexes: dict[str, Any] = {
            h: {"Name": h, "Mirrors": [], "Secure": False, "Official": False}
            for h in self.insecure_hosts
        }
        indexes[INDEX_NAME] = {
            "Name": INDEX_NAME,
            "Mirrors": list(self.mirrors),
            "Secure": True,
            "Official": True,
        }
        return {
            "IndexConfigs": indexes,
            "InsecureRegistryCIDRs": list(self.insecure_cidrs),
            "Mirrors": list(self.mirrors),
        }
