"""Image references parsed and normalised exactly as docker's distribution/reference does."""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.engine.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMP = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMP}(?:\.{_DOMAIN_COMP})*|\[(?:[a-fA-F0-9:]+)\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMP}(?:/{_PATH_COMP})*"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_DOMAIN_SPLIT_RE = re.compile(rf"^({_DOMAIN})/(.+)$")

INVALID_FORMAT = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    """A fully normalised reference: domain and path always set."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short repository name docker shows, e.g. busybox."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(_OFFICIAL_PREFIX) and path.count("/") == 1:
            return path[len(_OFFICIAL_PREFIX) :]
        return path

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    @property
    def familiar(self) -> str:
        """reference.FamiliarString: busybox:latest, 127.0.0.1:5000/x:1, busybox@sha256:..."""
        return self.familiar_name + self._suffix()

    @property
    def name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def with_tag(self, tag: str) -> Reference:
        """This repository with `tag` (and no digest)."""
        if not _TAG_RE.match(tag):
            raise InvalidParameter(f"invalid tag format: {tag!r}")
        return Reference(self.domain, self.path, tag, None)

    def tag_name_only(self) -> Reference:
        """reference.TagNameOnly: add ':latest' to a bare name."""
        return self.with_tag("latest") if self.name_only else self


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split a name into (domain, remainder) the way docker decides what a domain is."""
    i = name.find("/")
    first = name[:i] if i != -1 else ""
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = first, name[i + 1 :]
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = _OFFICIAL_PREFIX + rest
    return domain, rest


def _parse_full(s: str) -> Reference:
    m = _REFERENCE_RE.match(s)
    if m is None:
        if not s:
            raise InvalidParameter("repository name must have at least one component")
        if _REFERENCE_RE.match(s.lower()):
            raise InvalidParameter("repository name must be lowercase")
        raise InvalidParameter(INVALID_FORMAT)
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > _NAME_MAX:
        raise InvalidParameter(f"repository name must not be more than {_NAME_MAX} characters")
    dm = _DOMAIN_SPLIT_RE.match(name)
    if dm is None:  # cannot happen after split_docker_domain; kept for safety
        raise InvalidParameter(INVALID_FORMAT)
    return Reference(dm.group(1), dm.group(2), tag, digest)


def parse_normalized(s: str) -> Reference:
    """reference.ParseNormalizedNamed: "busybox" -> docker.io/library/busybox (no tag added)."""
    if _ID_RE.match(s):
        raise InvalidParameter(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, rest = split_docker_domain(s)
    remote = rest.split(":", 1)[0] if ":" in rest else rest
    remote = remote.split("@", 1)[0]
    if remote.lower() != remote:
        raise InvalidParameter(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return _parse_full(f"{domain}/{rest}")


def parse_tagged(s: str) -> Reference:
    """parse_normalized plus the implicit ':latest' (for storing tags)."""
    return parse_normalized(s).tag_name_only()


def parse_any(s: str) -> Reference | str:
    """reference.ParseAnyReference: a 64-hex id or "algo:hex" digest -> the digest string,
    anything else -> a normalised Reference."""
    if _ID_RE.match(s):
        return "sha256:" + s
    if _DIGEST_RE.match(s):
        return s
    return parse_normalized(s)


def is_digest(s: str) -> bool:
    """True for "algo:hex" with at least 32 hex digits."""
    return bool(_DIGEST_RE.match(s))


def familiar(full: str) -> str:
    """The familiar form of a stored full reference string."""
    return parse_normalized(full).familiar
