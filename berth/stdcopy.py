"""Docker's stdcopy stream framing (shared wire format, imports nothing of berth)."""

import struct

_HEADER = struct.Struct(">BxxxI")
HEADER_SIZE = _HEADER.size


def frame(stream: int, data: bytes) -> bytes:
    """One frame: 8-byte header (stream id, 3 zero bytes, big-endian length) then data."""
    return _HEADER.pack(stream, len(data)) + data


def parse_header(header: bytes) -> tuple[int, int]:
    """Return (stream id, payload length) of an 8-byte header."""
    return _HEADER.unpack(header)
