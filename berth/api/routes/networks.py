"""Network routes: parse the request, call the network service, shape dockerd's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from berth.api.backends import NetworksBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, empty, json_response
from berth.api.http.router import Route
from berth.api.routes.volumes import _filters
from berth.engine import wire
from berth.engine.containers.model import EndpointSettings

# The bodies, as dockerd's network router decodes them (Go's names for the messages).


@dataclass
class IPAMConfig:
    GO: ClassVar[str] = "network.IPAMConfig"
    subnet: str = ""
    ip_range: str = field(default="", metadata={"wire": "IPRange"})
    gateway: str = ""
    aux_address: dict[str, str] | None = field(
        default=None, metadata={"wire": "AuxiliaryAddresses"}
    )


@dataclass
class IPAM:
    GO: ClassVar[str] = "network.IPAM"
    driver: str = ""
    options: dict[str, str] | None = None
    config: list[IPAMConfig] | None = None


@dataclass
class ConfigReference:
    GO: ClassVar[str] = "network.ConfigReference"
    network: str = ""


@dataclass
class CreateOptions:
    GO: ClassVar[str] = "network.CreateOptions"
    driver: str = ""
    scope: str = ""
    enable_i_pv4: bool | None = field(default=None, metadata={"wire": "EnableIPv4"})
    enable_i_pv6: bool | None = field(default=None, metadata={"wire": "EnableIPv6"})
    ipam: IPAM | None = field(default=None, metadata={"wire": "IPAM"})
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    config_only: bool = False
    config_from: ConfigReference | None = None
    options: dict[str, str] | None = None
    labels: dict[str, str] | None = None


@dataclass
class CreateRequest:
    GO: ClassVar[str] = "network.CreateRequest"
    options: CreateOptions = field(default_factory=CreateOptions, metadata={"embed": True})
    name: str = ""
    check_duplicate: bool | None = None


@dataclass
class ConnectOptions:
    GO: ClassVar[str] = "network.ConnectOptions"
    container: str = ""
    endpoint_config: EndpointSettings | None = None


@dataclass
class DisconnectOptions:
    GO: ClassVar[str] = "network.DisconnectOptions"
    container: str = ""
    force: bool = False


async def _body(req: Request, cls: type) -> dict[str, Any]:
    """The body checked against its struct (400 in Go's words), keys in Docker's spelling."""
    return wire.check(cls, await req.json())


async def list_networks(req: Request, eng: NetworksBackend) -> Response:
    nets = eng.network.list(_filters(req))
    return json_response([n.to_api(eng.network.attached(n)) for n in nets])


async def inspect(req: Request, eng: NetworksBackend) -> Response:
    n = eng.network.get(req.match_info["id"])
    return json_response(n.to_api(eng.network.attached(n)))


async def create(req: Request, eng: NetworksBackend) -> Response:
    n, warning = await eng.network.create(await _body(req, CreateRequest))
    return json_response({"Id": n.id, "Warning": warning}, 201)


async def remove(req: Request, eng: NetworksBackend) -> Response:
    await eng.network.remove(req.match_info["id"])
    return empty(204)


async def connect(req: Request, eng: NetworksBackend) -> Response:
    body = await _body(req, ConnectOptions)
    c = eng.containers.get(body.get("Container") or "")
    await eng.network.connect(c, req.match_info["id"], body.get("EndpointConfig") or {})
    eng.containers.save(c)
    return empty(200)


async def disconnect(req: Request, eng: NetworksBackend) -> Response:
    body = await _body(req, DisconnectOptions)
    c = eng.containers.get(body.get("Container") or "")
    await eng.network.disconnect(c, req.match_info["id"], bool(body.get("Force")))
    eng.containers.save(c)
    return empty(200)


async def prune(req: Request, eng: NetworksBackend) -> Response:
    return json_response({"NetworksDeleted": await eng.network.prune(_filters(req))})


ROUTES = [
    Route("GET", "/networks", list_networks),
    Route("POST", "/networks/create", create),
    Route("POST", "/networks/prune", prune),
    Route("GET", "/networks/{id}", inspect),
    Route("DELETE", "/networks/{id}", remove),
    Route("POST", "/networks/{id}/connect", connect),
    Route("POST", "/networks/{id}/disconnect", disconnect),
]
