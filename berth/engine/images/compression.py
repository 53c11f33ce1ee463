"""Recognise a compressed stream by its magic bytes and copy it out uncompressed, hashing."""

from __future__ import annotations

import hashlib
import os
from typing import IO, Any

from berth.engine.errors import InvalidParameter

_CHUNK = 1 << 20
_GZIP = b"\x1f\x8b"
_XZ = b"\xfd7zXZ\x00"
_BZIP2 = b"BZh"
_ZSTD = b"\x28\xb5\x2f\xfd"
# What a decompressor raises on bad input; isal's error joins when isal is used.
_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError)


def _isal_gzip(src: IO[bytes]) -> IO[bytes] | None:
    """An ISA-L gzip reader (about 4x zlib's speed) when python-isal is installed.
    BERTH_GZIP=zlib forces zlib, for comparing the two."""
    global _ERRORS
    if os.environ.get("BERTH_GZIP") == "zlib":
        return None
    try:
        from isal import igzip, isal_zlib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    if isal_zlib.error not in _ERRORS:
        _ERRORS = (*_ERRORS, isal_zlib.error)  # type: ignore[arg-type,unused-ignore]
    reader: Any = igzip.IGzipFile(fileobj=src, mode="rb")
    return reader  # type: ignore[no-any-return]


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
        fast = _isal_gzip(src)
        if fast is not None:
            return fast
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
        return reader  # type: ignore[no-any-return,unused-ignore]
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
    except _ERRORS as exc:
        raise InvalidParameter(f"corrupt compressed data: {exc}") from exc
    return "sha256:" + h.hexdigest(), size
