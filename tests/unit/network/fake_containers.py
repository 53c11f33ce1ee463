"""What the network service is given of the containers (`containers`, the engine's
ContainerStore: all, get, maybe, save), with containers that have just the fields the
network service reads and writes; and the event bus it is given (`events`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import NotFound


@dataclass
class State:
    running: bool = False


@dataclass
class HostConfig:
    network_mode: str = "default"
    links: list[str] | None = None
    port_bindings: dict[str, Any] | None = None
    publish_all_ports: bool = False
    extra_hosts: list[str] | None = None
    dns: list[str] | None = None
    dns_search: list[str] | None = None
    dns_options: list[str] | None = None


@dataclass
class Config:
    hostname: str = ""
    exposed_ports: dict[str, Any] | None = None
    env: list[str] | None = None
    mac_address: str = ""


@dataclass
class Container:
    name: str
    id: str = field(default_factory=lambda: secrets.token_hex(32))
    state: State = field(default_factory=State)
    host_config: HostConfig = field(default_factory=HostConfig)
    config: Config = field(default_factory=Config)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)
    hosts_path: str = ""
    resolv_conf_path: str = ""

    def __post_init__(self) -> None:
        self.config.hostname = self.config.hostname or self.id[:12]


class Containers:
    def __init__(self) -> None:
        self.by_id: dict[str, Container] = {}
        self.saved: list[str] = []

    def add(self, c: Container) -> Container:
        self.by_id[c.id] = c
        return c

    def all(self) -> list[Container]:
        return list(self.by_id.values())

    def get(self, ref: str) -> Container:
        for c in self.by_id.values():
            # by name with or without "/", as the engine's store resolves
            if ref in (c.id, c.name, "/" + c.name) or (len(ref) >= 12 and c.id.startswith(ref)):
                return c
        raise NotFound(f"No such container: {ref}")

    def maybe(self, cid: str) -> Container | None:
        return self.by_id.get(cid)

    def save(self, c: Container) -> None:
        self.saved.append(c.id)


@dataclass
class Bus:
    events: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def publish(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str]
    ) -> None:
        self.events.append((type_, action, actor_id, dict(attributes)))

    def actions(self) -> list[str]:
        return [e[1] for e in self.events]
