"""The `filters` query parameter of list and prune endpoints, parsed once for all."""

from __future__ import annotations

from collections.abc import Collection

from berth.engine.errors import InvalidParameter


def normalize(raw: object, accepted: Collection[str] | None = None) -> dict[str, list[str]]:
    """Both wire forms docker clients send, {"k": ["v"]} and the legacy {"k": {"v": true}},
    as {"k": ["v"]}. With `accepted`, an unknown key is refused as dockerd does."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameter("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for k, v in raw.items():
        if accepted is not None and k not in accepted:
            raise InvalidParameter(f"invalid filter '{k}'")
        if isinstance(v, dict):
            out[k] = [str(x) for x, on in v.items() if on]
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
        else:
            raise InvalidParameter(f"invalid filter '{k}'")
    return out
