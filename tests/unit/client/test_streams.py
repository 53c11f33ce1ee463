"""stdcopy demux, output copying and detach-key detection."""

from __future__ import annotations

import os
import socket
import threading

from berth.client.streams import AttachSession, Demuxer, EscapeFilter, copy_output, demux
from berth.stdcopy import frame


def test_demux_frames_split_at_every_byte() -> None:
    wire = frame(1, b"out1") + frame(2, b"err") + frame(1, b"") + frame(1, b"x" * 70000)
    d = Demuxer()
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(wire), 3):
        got += d.feed(wire[i : i + 3])
    assert got == [(1, b"out1"), (2, b"err"), (1, b""), (1, b"x" * 70000)]
    assert d.pending == 0


def test_demux_holds_partial_frame() -> None:
    d = Demuxer()
    assert d.feed(frame(1, b"abc")[:-1]) == []
    assert d.pending == 10
    assert list(demux([frame(2, b"e"), frame(1, b"o")])) == [(2, b"e"), (1, b"o")]


def _pipes() -> tuple[int, int, int, int]:
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    return r1, w1, r2, w2


def _drain(fd: int) -> bytes:
    out = b""
    while data := os.read(fd, 65536):
        out += data
    return out


def test_copy_output_demuxes_to_two_fds() -> None:
    r1, w1, r2, w2 = _pipes()
    try:
        copy_output([frame(1, b"o1"), frame(2, b"e1") + frame(1, b"o2")], False, w1, w2)
        os.close(w1)
        os.close(w2)
        assert _drain(r1) == b"o1o2"
        assert _drain(r2) == b"e1"
    finally:
        for fd in (r1, r2):
            os.close(fd)


def test_copy_output_raw_with_tty() -> None:
    r1, w1, r2, w2 = _pipes()
    try:
        copy_output([b"\x01\x00raw", b"bytes"], True, w1, w2)
        os.close(w1)
        os.close(w2)
        assert _drain(r1) == b"\x01\x00rawbytes"
        assert _drain(r2) == b""
    finally:
        os.close(r1)
        os.close(r2)


def test_escape_filter_detects_sequence_across_reads() -> None:
    f = EscapeFilter(b"\x10\x11")
    assert f.feed(b"ab\x10") == (b"ab", False)
    assert f.feed(b"\x11zz") == (b"", True)


def test_escape_filter_releases_false_start() -> None:
    f = EscapeFilter(b"\x10\x11")
    assert f.feed(b"\x10x") == (b"\x10x", False)
    assert f.feed(b"\x10\x10\x11") == (b"\x10", True)


def test_attach_session_copies_both_ways_and_half_closes() -> None:
    here, there = socket.socketpair()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        s = AttachSession(here, frame(1, b"early "), False, in_r, out_w, err_w)
        s.start()
        os.write(in_w, b"input")
        os.close(in_w)
        got = b""
        while data := there.recv(100):  # ends when the session half-closes at stdin EOF
            got += data
        assert got == b"input"
        there.sendall(frame(1, b"late") + frame(2, b"oops"))
        there.close()
        assert s.wait(5) and not s.detached
        os.close(out_w)
        os.close(err_w)
        assert _drain(out_r) == b"early late"
        assert _drain(err_r) == b"oops"
    finally:
        here.close()
        for fd in (in_r, out_r, err_r):
            os.close(fd)


def test_attach_session_detach_keys_with_tty() -> None:
    here, there = socket.socketpair()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        s = AttachSession(here, b"", True, in_r, out_w, out_w, detach_keys=b"\x10\x11")
        s.start()
        os.write(in_w, b"ls\x10\x11")
        assert s.wait(5)
        assert s.detached
        there.settimeout(5)
        assert there.recv(100) == b"ls"
        assert threading.active_count() >= 1
    finally:
        s.close()
        there.close()
        for fd in (in_r, in_w, out_r, out_w):
            os.close(fd)
