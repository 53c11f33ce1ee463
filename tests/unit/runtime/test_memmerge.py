"""Which mappings berthd --shim-memory-merge offers to KSM: private writable ones, not the
kernel's special mappings (madvise refuses them) and not shared ones."""

from __future__ import annotations

from berth.runtime.memmerge import _private_writable


def test_the_maps_parser_takes_private_writable_mappings_only() -> None:
    maps = (
        "5581d000-5581e000 rw-p 00000000 00:00 0          [heap]\n"
        "7f00a000-7f00b000 r--p 00000000 fd:01 12 /usr/lib/libc.so.6\n"
        "7f00b000-7f00c000 rw-p 00001000 fd:01 12 /usr/lib/libc.so.6\n"
        "7f00c000-7f00d000 rw-s 00000000 00:05 7  /dev/zero (deleted)\n"
        "7f00d000-7f00e000 rw-p 00000000 00:00 0\n"
        "7ffd000-7ffe000 r--p 00000000 00:00 0            [vvar]\n"
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n"
    )
    assert _private_writable(maps) == [
        (0x5581D000, 0x5581E000),
        (0x7F00B000, 0x7F00C000),
        (0x7F00D000, 0x7F00E000),
    ]
