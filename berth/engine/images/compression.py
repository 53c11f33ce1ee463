"""Recognise a compressed stream by its magic bytes and copy it out uncompressed, hashing."""

from __future__ import annotations

import hashlib
from typing import IO, Any

from berth.engine.errors import InvalidParameter

_CHUNK = 1 << 20
_GZIP = b"\x1f\x8b"
_XZ = b"\xfd7zXZ\x00"
_BZIP2 = b"BZh"
_ZSTD = b"\x28\xb5\x2f\xfd"


def detect(head: bytes) -> str:
    """The compression of a stream from its first bytes: gzip, xz, bzip2, zstd or ""."""
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_XZ):
        return "xz"
    if head.startswith(_BZIP2):
        return "bzip2"
    if head.startswith(_ZSTD):
        return "zstd"
    return ""


def open_decompressed(src: IO[bytes], kind: str) -> IO[bytes]:
    """A reader of `src` with `kind` compression undone."""
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=src, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(src)  # type: ignore[return-value]
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(src)  # type: ignore[return-value]
    if kind == "zstd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError as exc:
            raise InvalidParameter(
                "zstd-compressed content is not supported: the zstandard module is not installed"
            ) from exc
        reader: Any = zstandard.ZstdDecompressor().stream_reader(src)
        return reader  # type: ignore[no-any-return]
    return src


def peek(src: IO[bytes], n: int = 8) -> bytes:
    """The first `n` bytes of `src` without consuming them (src must be seekable or peekable)."""
    peeker = getattr(src, "peek", None)
    if peeker is not None:
        return bytes(peeker(n)[:n])
    pos = src.tell()
    head = src.read(n)
    src.seek(pos)
    return head


def copy_uncompressed(src: IO[bytes], dst: IO[bytes]) -> tuple[str, int]:
    """Copy `src` (maybe compressed) to `dst` uncompressed; return ("sha256:<hex>", size)."""
    reader = open_decompressed(src, detect(peek(src)))
    h = hashlib.sha256()
    size = 0
    try:
        while True:
            chunk = reader.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    except (OSError, EOFError, ValueError) as exc:
        raise InvalidParameter(f"corrupt compressed data: {exc}") from exc
    return "sha256:" + h.hexdigest(), size
