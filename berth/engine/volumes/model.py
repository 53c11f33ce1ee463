"""A volume, as stored and as the API shows it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import InvalidParameter

DEFAULT_DRIVER = "local"
# set on volumes created without a name, as dockerd does; `volume prune` (API >= 1.42)
# removes only these unless asked for all
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass
class Volume:
    name: str
    driver: str
    mountpoint: str
    created_at: str  # RFC3339, seconds
    # None and {} differ on the wire (null vs {}), as in dockerd
    labels: dict[str, str] | None = None
    options: dict[str, str] | None = None
    scope: str = "local"

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in (self.labels or {})

    def to_api(self) -> dict[str, Any]:
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": self.options,
            "Scope": self.scope,
        }


@dataclass
class PruneReport:
    deleted: list[str] = field(default_factory=list)
    space_reclaimed: int = 0


def validate_name(name: str) -> None:
    """The local driver's rule: the name becomes a directory, so nothing may lead out."""
    if len(name) == 1:
        raise InvalidParameter(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not _NAME.match(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{RESTRICTED_NAME_CHARS}" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )
