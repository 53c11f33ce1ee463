"""The `docker save` archive, read: legacy docker-archive or OCI layout, both as docker
25+ writes them (save.py writes one); and TarCheck, the structure of a load's body."""

from __future__ import annotations

import json
import os
import platform as _platform
import tarfile
from dataclasses import dataclass, field
from typing import IO, Any

from berth.engine.errors import InvalidParameter
from berth.engine.images.reference import parse_tagged

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ANN_IMAGE_NAME = "io.containerd.image.name"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
_MAX_JSON = 64 << 20
_BLOCK = 512


@dataclass
class ArchiveImage:
    """One image found in an archive: where its config and layers are inside the tar."""

    config_member: str
    layer_members: list[str]
    tags: list[str] = field(default_factory=list)  # full normalised refs


class ArchiveReader:
    """Random access to the members of an (uncompressed) archive tar."""

    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.members: dict[str, tarfile.TarInfo] = {}
        for ti in tf.getmembers():
            name = ti.name
            while name.startswith("./"):
                name = name[2:]
            self.members[name.rstrip("/")] = ti

    def _member(self, name: str) -> tarfile.TarInfo:
        ti = self.members.get(name)
        hops = 0
        while ti is not None and ti.issym() and hops < 8:  # docker writes blobs as symlinks
            base = name.rsplit("/", 1)[0] if "/" in name else ""
            name = _join(base, ti.linkname)
            ti = self.members.get(name)
            hops += 1
        if ti is None or not ti.isfile():
            raise InvalidParameter(f"invalid archive: {name!r} is missing or not a file")
        return ti

    def open(self, name: str) -> IO[bytes]:
        f = self.tf.extractfile(self._member(name))
        assert f is not None
        return f

    def read(self, name: str, limit: int = _MAX_JSON) -> bytes:
        ti = self._member(name)
        if ti.size > limit:
            raise InvalidParameter(f"invalid archive: {name!r} is too large")
        with self.open(name) as f:
            return f.read()

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:
            raise InvalidParameter(f"invalid archive: {name}: {exc}") from exc

    def has(self, name: str) -> bool:
        return name in self.members


def _join(base: str, rel: str) -> str:
    parts = [p for p in base.split("/") if p] if not rel.startswith("/") else []
    for p in rel.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def blob_member(digest: Any) -> str:
    """Where a blob lives in an OCI layout: blobs/<algo>/<hex>."""
    if not isinstance(digest, str) or ":" not in digest:
        raise InvalidParameter(f"invalid archive: bad digest {digest!r}")
    algo, hx = digest.split(":", 1)
    return f"blobs/{algo}/{hx}"


def _norm_tags(tags: Any) -> list[str]:
    out: list[str] = []
    for t in tags or []:
        if not isinstance(t, str):
            raise InvalidParameter("invalid archive: RepoTags must be strings")
        out.append(str(parse_tagged(t)))
    return out


def read_images(ar: ArchiveReader) -> list[ArchiveImage]:
    """The images an archive holds; manifest.json wins over index.json like dockerd."""
    if ar.has("manifest.json"):
        entries = ar.json("manifest.json")
        if not isinstance(entries, list):
            raise InvalidParameter("invalid archive: manifest.json is not a list")
        out = []
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get("Config"), str):
                raise InvalidParameter("invalid archive: bad manifest.json entry")
            layers = e.get("Layers") or []
            if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
                raise InvalidParameter("invalid archive: bad Layers in manifest.json")
            out.append(ArchiveImage(e["Config"], list(layers), _norm_tags(e.get("RepoTags"))))
        return out
    if ar.has("index.json"):
        return _read_oci(ar)
    if ar.has("repositories"):
        raise InvalidParameter(
            "unsupported archive: legacy v1 image format (no manifest.json) is not supported"
        )
    # dockerd falls back to the legacy loader, which fails opening the legacy tag file
    # in the directory it unpacked to: its message, with berth's directory
    where = os.path.dirname(str(getattr(ar.tf, "name", "") or "")) or "."
    raise InvalidParameter(f"open {where}/repositories: no such file or directory")


def _read_oci(ar: ArchiveReader) -> list[ArchiveImage]:
    index = ar.json("index.json")
    out: list[ArchiveImage] = []
    for desc in (index.get("manifests") if isinstance(index, dict) else None) or []:
        ann = desc.get("annotations") or {}
        tags: list[str] = []
        name = ann.get(ANN_IMAGE_NAME)
        if isinstance(name, str) and name:
            tags = _norm_tags([name])
        manifest = _pick_manifest(ar, desc, 0)
        if manifest is None:
            continue
        cfg = manifest.get("config") or {}
        layers = [blob_member(layer.get("digest")) for layer in manifest.get("layers") or []]
        out.append(ArchiveImage(blob_member(cfg.get("digest")), layers, tags))
    if not out:
        raise InvalidParameter("invalid archive: index.json lists no image for this platform")
    return out


def _pick_manifest(ar: ArchiveReader, desc: Any, depth: int) -> dict | None:
    if not isinstance(desc, dict) or depth > 4:
        raise InvalidParameter("invalid archive: bad descriptor in index")
    doc = ar.json(blob_member(desc.get("digest")))
    mt = doc.get("mediaType") or desc.get("mediaType")
    if mt in (MT_OCI_INDEX, MT_DOCKER_LIST) or "manifests" in doc:
        for sub in doc.get("manifests") or []:
            plat = sub.get("platform") or {}
            if plat and (plat.get("os") != "linux" or plat.get("architecture") != host_arch()):
                continue
            if not ar.has(blob_member(sub.get("digest"))):
                continue  # docker save --platform keeps only some manifests
            return _pick_manifest(ar, sub, depth + 1)
        return None
    return doc if isinstance(doc, dict) else None


# the magic numbers of the compressions dockerd's DecompressStream knows
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")
# tar types without data blocks (Go's isHeaderOnlyType): links, devices, dirs, fifos
_HEADER_ONLY = frozenset(b"123456")


class TarCheck:
    """The structure of an uncompressed tar stream, checked as Go's archive/tar reads it
    while dockerd unpacks a `docker load`: fed the body as it arrives, `finish()` gives
    Go's error text (`unexpected EOF` for a stream cut inside a header or a member's data,
    `archive/tar: invalid tar header` for a block that is no header) or None. Python's
    tarfile takes a stream cut at a header for a shorter archive; dockerd does not.
    Compressed input is left to the loader (None)."""

    def __init__(self) -> None:
        self._head = bytearray()  # an incomplete header block
        self._skip = 0  # data and padding bytes still to come
        self._zero = False  # one zero block seen
        self._state: str | None = None  # "end", "off" (compressed) or an error text
        self._first = True

    def feed(self, chunk: bytes) -> None:
        if self._state is not None or not chunk:
            return
        if self._first:
            self._first = False
            if chunk.startswith(_COMPRESSED):
                self._state = "off"
                return
        view = memoryview(chunk)
        pos = 0
        while pos < len(view) and self._state is None:
            if self._skip:
                step = min(self._skip, len(view) - pos)
                self._skip -= step
                pos += step
                continue
            need = _BLOCK - len(self._head)
            self._head += view[pos : pos + need]
            pos += min(need, len(view) - pos)
            if len(self._head) == _BLOCK:
                self._block(bytes(self._head))
                self._head.clear()

    def _block(self, blk: bytes) -> None:
        if blk == bytes(_BLOCK):
            if self._zero:
                self._state = "end"  # two zero blocks: what follows is not read
            self._zero = True
            return
        if self._zero:
            self._state = "archive/tar: invalid tar header"  # a zero block, then data
            return
        try:
            ti = tarfile.TarInfo.frombuf(blk, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            self._state = "archive/tar: invalid tar header"
            return
        size = 0 if blk[156] in _HEADER_ONLY else ti.size
        self._skip = -(-size // _BLOCK) * _BLOCK

    def finish(self) -> str | None:
        if self._state in ("end", "off"):
            return None
        if self._state is not None:
            return self._state
        if self._skip or self._head:
            return "unexpected EOF"
        return None


def host_arch() -> str:
    """The host architecture in Go/OCI spelling."""
    m = _platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)
