"""Manifests: Docker schema2, OCI image manifests, manifest lists / OCI indexes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import InvalidParameter, NotFound

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"

# What a pull asks for, most preferred first (the order dockerd sends).
ACCEPT = (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX)
LAYER_TYPES = frozenset(
    {
        DOCKER_LAYER_GZIP,
        DOCKER_FOREIGN,
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_NONDIST,
        OCI_NONDIST + "+gzip",
        OCI_NONDIST + "+zstd",
    }
)
_LISTS = (DOCKER_LIST, OCI_INDEX)
_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: list[str] = field(default_factory=list)
    platform: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, d: Any) -> Descriptor:
        if not isinstance(d, dict):
            raise InvalidParameter("invalid manifest: descriptor is not an object")
        digest, size = d.get("digest"), d.get("size")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise InvalidParameter(f"invalid manifest: unsupported digest {digest!r}")
        if not isinstance(size, int) or size < 0:
            raise InvalidParameter(f"invalid manifest: bad size for {digest}")
        plat = d.get("platform")
        urls = d.get("urls")
        return cls(
            str(d.get("mediaType") or ""),
            digest,
            size,
            [str(u) for u in urls] if isinstance(urls, list) else [],
            plat if isinstance(plat, dict) else {},
        )

    def to_wire(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: list[Descriptor]


@dataclass
class ManifestList:
    media_type: str
    manifests: list[Descriptor]


def parse(data: bytes, content_type: str) -> ImageManifest | ManifestList:
    """Parse a manifest body; the media type comes from the body, else the header."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise InvalidParameter(f"invalid manifest: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid manifest: not a JSON object")
    mt = doc.get("mediaType") or content_type.split(";", 1)[0].strip()
    if not mt or mt in ("application/json", "text/plain"):
        # An OCI document may leave mediaType out: tell the kinds apart by their fields.
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if mt in _LISTS:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise InvalidParameter("invalid manifest list: no manifests")
        return ManifestList(mt, [Descriptor.from_wire(m) for m in entries])
    if mt in _MANIFESTS:
        if doc.get("schemaVersion") != 2:
            raise InvalidParameter(
                f"unsupported manifest schema version {doc.get('schemaVersion')}"
            )
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise InvalidParameter("invalid manifest: no layers")
        return ImageManifest(
            mt, Descriptor.from_wire(doc.get("config")), [Descriptor.from_wire(x) for x in layers]
        )
    if "schemaVersion" in doc and doc.get("schemaVersion") == 1:
        raise InvalidParameter(
            "support for Docker Image Format v1 and Docker Image manifest version 2, "
            "schema 1 has been removed"
        )
    raise InvalidParameter(f"unsupported manifest media type {mt!r}")


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's platforms.Normalize for the architectures that have aliases."""
    arch = arch.lower()
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", ""
    if arch in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8") else variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        return "arm", variant or "v7"
    if arch in ("i386", "i686", "386"):
        return "386", ""
    return arch, variant


def parse_platform(spec: str) -> tuple[str, str, str]:
    """ "linux/arm64/v8" -> (os, arch, variant), normalised."""
    parts = spec.lower().split("/")
    if len(parts) == 1 or len(parts) > 3 or not all(parts):
        raise InvalidParameter(
            f'"{spec}": unknown operating system or architecture: invalid argument'
        )
    os_, arch = parts[0], parts[1]
    arch, variant = normalize_arch(arch, parts[2] if len(parts) == 3 else "")
    return os_, arch, variant


def select(index: ManifestList, os_: str, arch: str, variant: str) -> Descriptor:
    """The entry of `index` for the platform (exact variant preferred, then none/compatible)."""
    best: Descriptor | None = None
    best_rank = -1
    for d in index.manifests:
        p = d.platform
        if str(p.get("os") or "").lower() != os_:
            continue
        a, v = normalize_arch(str(p.get("architecture") or ""), str(p.get("variant") or ""))
        if a != arch:
            continue
        if v == variant:
            rank = 2
        elif not variant or not v:
            rank = 1
        elif arch == "arm" and v < variant:  # arm v6 runs on v7, not the other way
            rank = 0
        else:
            continue
        if rank > best_rank:
            best, best_rank = d, rank
    if best is None:
        plat = f"{os_}/{arch}" + (f"/{variant}" if variant else "")
        raise NotFound(f"no matching manifest for {plat} in the manifest list entries")
    return best


def schema2(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """A Docker schema2 manifest, serialised as dockerd does (three-space indent)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.to_wire(),
        "layers": [x.to_wire() for x in layers],
    }
    return json.dumps(doc, indent=3).encode()
