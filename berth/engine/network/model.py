"""A network as stored and as shown by the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUILTIN = ("bridge", "host", "none")


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge, host, null
    created: str
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bridge: str = ""  # the Linux bridge's name
    # What berth did to the host for this network, so that removing it undoes that and
    # nothing else. made_link: the bridge's link id (bridge.link_id) when berth created
    # it, "" when it adopted an existing one, None in a record from a berth that did not
    # keep this. It is written only after the link exists: a crash in between leaves the
    # record saying "adopted", and the link in place.
    made_link: str | None = None
    # "<link id>/<ip>/<prefixlen>": the gateway address berth put on an adopted bridge
    added_address: str = ""
    # IPv6 (`--ipv6`): one subnet of its own beside the IPv4 one, as dockerd keeps them
    enable_ipv6: bool = False
    subnet6: str = ""
    gateway6: str = ""
    ip_range6: str = ""
    # kept and shown as given (IPAM options have no effect with the default driver, as in
    # dockerd); auxiliary addresses are never handed to a container
    attachable: bool = False
    ipam_options: dict[str, str] = field(default_factory=dict)
    aux_addresses: dict[str, str] = field(default_factory=dict)

    def opt_bool(self, key: str, default: bool = True) -> bool:
        """A boolean driver option (com.docker.network.bridge.enable_icc, ...), as Go's
        strconv.ParseBool reads it; absent: DEFAULT."""
        v = self.options.get(key)
        if v is None or v == "":
            return default
        return v.lower() in ("1", "t", "true")

    @property
    def mtu(self) -> int:
        try:
            return int(self.options.get("com.docker.network.driver.mtu") or 0) or 1500
        except ValueError:
            return 1500

    @property
    def user_defined(self) -> bool:
        return self.name not in BUILTIN

    def to_api(self, containers: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        ipam_cfg: list[dict[str, Any]] = []
        if self.subnet:
            one = {"Subnet": self.subnet, "Gateway": self.gateway}
            if self.ip_range:
                one["IPRange"] = self.ip_range
            ipam_cfg.append(one)
        if self.aux_addresses and ipam_cfg:
            ipam_cfg[0]["AuxiliaryAddresses"] = dict(self.aux_addresses)
        if self.enable_ipv6 and self.subnet6:
            six = {"Subnet": self.subnet6, "Gateway": self.gateway6}
            if self.ip_range6:
                six["IPRange"] = self.ip_range6
            ipam_cfg.append(six)
        opts = dict(self.options)
        if self.driver == "bridge" and self.name == "bridge":
            opts.setdefault("com.docker.network.bridge.name", self.bridge)
        return {
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv4": True,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": {
                "Driver": "default",
                "Options": dict(self.ipam_options) or None,
                "Config": ipam_cfg,
            },
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers if containers is not None else {},
            "Options": opts,
            "Labels": dict(self.labels),
        }
