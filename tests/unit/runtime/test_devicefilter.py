"""devicefilter: OCI device rules -> the cgroup v2 device program.

The compiled program is checked three ways: its instruction list for small rule sets,
a static check that the kernel's verifier would find every instruction reachable, and
a small interpreter of the opcodes it uses, run over a grid of devices and accesses
against decide(), the rules' reference semantics (last matching rule wins, per bit)."""

from __future__ import annotations

import errno
import itertools
import os
import random
import struct
import sys

import pytest

from berth.runtime import bpf, cgroups
from berth.runtime import devicefilter as df
from berth.runtime.devicefilter import ACC_MKNOD, ACC_READ, ACC_WRITE, DEV_BLOCK, DEV_CHAR
from berth.runtime.spec import DEFAULT_DEVICE_RULES

PROLOGUE = [
    "ldxw r2, [r1+0]",
    "and32 r2, 0xffff",
    "ldxw r3, [r1+0]",
    "rsh32 r3, 16",
    "ldxw r4, [r1+4]",
    "ldxw r5, [r1+8]",
]
DEFAULT = cgroups.with_implicit(list(DEFAULT_DEVICE_RULES))
PRIVILEGED = cgroups.with_implicit([{"allow": True, "access": "rwm"}])
R, W, M = ACC_READ, ACC_WRITE, ACC_MKNOD
RW = R | W


def _sext(imm: int) -> int:
    return imm & 0xFFFFFFFFFFFFFFFF


def run(insns: list[df.Insn], dev_type: int, major: int, minor: int, access: int) -> int:
    """Execute the program the way the kernel would on struct bpf_cgroup_dev_ctx."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    reg = [0] * 11
    pc = 0
    for _ in range(10_000):
        i = insns[pc]
        pc += 1
        if i.code == 0x61:
            reg[i.dst] = struct.unpack_from("<I", ctx, i.off)[0]
        elif i.code == 0x54:
            reg[i.dst] = reg[i.dst] & i.imm & 0xFFFFFFFF
        elif i.code == 0x74:
            reg[i.dst] = (reg[i.dst] & 0xFFFFFFFF) >> i.imm
        elif i.code == 0xB7:
            reg[i.dst] = _sext(i.imm)
        elif i.code == 0x05:
            pc += i.off
        elif i.code == 0x15:
            pc += i.off if reg[i.dst] == _sext(i.imm) else 0
        elif i.code == 0x55:
            pc += i.off if reg[i.dst] != _sext(i.imm) else 0
        elif i.code == 0x45:
            pc += i.off if reg[i.dst] & _sext(i.imm) else 0
        elif i.code == 0x95:
            return reg[0]
        else:
            raise AssertionError(f"unexpected opcode {i.code:#x}")
    raise AssertionError("the program loops")


def assert_verifiable(insns: list[df.Insn]) -> None:
    """What the verifier's CFG check refuses: a jump out of the program, code no path
    reaches, a fall off the end."""
    n = len(insns)
    seen: set[int] = set()
    todo = [0]
    while todo:
        pc = todo.pop()
        if pc in seen:
            continue
        assert 0 <= pc < n, f"jump out of the program to {pc}"
        seen.add(pc)
        i = insns[pc]
        if i.code == 0x95:
            continue
        if i.code == 0x05:
            todo.append(pc + 1 + i.off)
            continue
        if i.code in (0x15, 0x55, 0x45):
            todo.append(pc + 1 + i.off)
        todo.append(pc + 1)
    assert seen == set(range(n)), f"unreachable: {sorted(set(range(n)) - seen)}"
    assert insns[-1].code in (0x95, 0x05)


def rules(*entries: dict) -> list[df.Rule]:
    return df.parse_rules(entries)


def allowed(devices: list[dict], dev_type: int, major: int, minor: int, access: int) -> bool:
    insns = df.compile_rules(df.parse_rules(devices))
    return run(insns, dev_type, major, minor, access) == 1


# ---- the instruction list ------------------------------------------------------------


@pytest.mark.parametrize(
    ("devices", "body"),
    [
        pytest.param(
            [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1,
             "minor": 3, "access": "rwm"}],
            ["jne r2, 2, +2", "jne r4, 1, +1", "jeq r5, 3, +2", "mov r0, 0", "exit",
             "mov r0, 1", "exit"],
            id="deny-all-then-null",
        ),
        pytest.param(
            [{"allow": True, "access": "rwm"}],
            ["ja +0", "mov r0, 1", "exit"],
            id="privileged",
        ),
        pytest.param(
            [{"allow": True}, {"allow": False, "type": "c", "major": 1, "minor": 3,
             "access": "w"}],
            ["jne r2, 2, +3", "jne r4, 1, +2", "jne r5, 3, +1", "jset r3, 0x4, +1", "ja +2",
             "mov r0, 0", "exit", "mov r0, 1", "exit"],
            id="allow-all-but-writing-null",
        ),
        pytest.param(
            [{"allow": True, "type": "b", "major": 8, "access": "r"}],
            ["jne r2, 1, +3", "jne r4, 8, +2", "and32 r3, 0x5", "jeq r3, 0, +2", "mov r0, 0",
             "exit", "mov r0, 1", "exit"],
            id="read-block-8-any-minor",
        ),
        pytest.param([], ["mov r0, 0", "exit"], id="no-rules-deny"),
        pytest.param(
            [{"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
             {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"}],
            ["jne r2, 2, +5", "jne r4, 5, +1", "jeq r5, 0, +5", "jne r4, 1, +2",
             "jeq r5, 3, +3", "jeq r5, 5, +2", "mov r0, 0", "exit", "mov r0, 1", "exit"],
            id="neighbours-share-type-and-major",
        ),
    ],
)  # fmt: skip
def test_instruction_list(devices: list[dict], body: list[str]) -> None:
    insns = df.compile_rules(df.parse_rules(devices))
    assert [str(i) for i in insns] == PROLOGUE + body
    assert_verifiable(insns)


def test_a_rule_after_one_that_decides_everything_is_left_out() -> None:
    # the last rule (checked first) allows every access to every device
    short = df.compile_rules(rules({"allow": False, "type": "c", "major": 1}, {"allow": True}))
    assert [str(i) for i in short] == PROLOGUE + ["ja +0", "mov r0, 1", "exit"]
    # inside a type: c 5:* rwm shadows the c 5:1 before it
    insns = df.compile_rules(
        rules(
            {"allow": False, "type": "c", "major": 5, "minor": 1},
            {"allow": True, "type": "c", "major": 5},
        )
    )
    assert "jne r5, 1" not in " ".join(str(i) for i in insns)


@pytest.mark.skipif(sys.byteorder != "little", reason="the bytes of a little-endian host")
def test_encoding() -> None:
    # struct bpf_insn: code, dst | src << 4, s16 off, s32 imm (little-endian)
    assert df.Insn(0x61, 2, 1, 4).encode() == bytes([0x61, 0x12, 4, 0, 0, 0, 0, 0])
    assert df.Insn(0x55, 4, 0, -3, 136).encode() == bytes([0x55, 4, 0xFD, 0xFF, 136, 0, 0, 0])
    code = df.program(DEFAULT)
    assert len(code) == 8 * len(df.compile_rules(df.parse_rules(DEFAULT)))


def test_default_program_stays_short() -> None:
    # the verifier's time grows with it, paid at every container start
    assert len(df.compile_rules(df.parse_rules(DEFAULT))) <= 45


# ---- what the rules mean ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dev", "access", "ok"),
    [
        ((DEV_CHAR, 1, 3), RW, True),  # /dev/null
        ((DEV_CHAR, 1, 9), R, True),  # /dev/urandom
        ((DEV_CHAR, 5, 2), RW, True),  # /dev/ptmx
        ((DEV_CHAR, 136, 7), RW, True),  # a pty
        ((DEV_CHAR, 1, 1), R, False),  # /dev/mem
        ((DEV_CHAR, 1, 11), R, False),  # /dev/kmsg
        ((DEV_CHAR, 10, 232), RW, False),  # /dev/kvm
        ((DEV_CHAR, 10, 229), RW, False),  # /dev/fuse, denied by name
        ((DEV_BLOCK, 8, 0), R, False),  # the host's disk
        ((DEV_BLOCK, 8, 0), M, True),  # mknod is allowed everywhere, opening is not
        ((DEV_CHAR, 1, 1), M, True),
        ((DEV_BLOCK, 8, 0), R | M, False),
    ],
)
def test_default_rules(dev: tuple[int, int, int], access: int, ok: bool) -> None:
    assert df.decide(df.parse_rules(DEFAULT), *dev, access) is ok
    assert allowed(DEFAULT, *dev, access) is ok


def test_privileged_allows_everything() -> None:
    for dev in ((DEV_CHAR, 1, 1), (DEV_BLOCK, 8, 0), (DEV_CHAR, 10, 232)):
        assert allowed(PRIVILEGED, *dev, RW | M)


def test_device_flag_opens_a_hole_after_the_defaults() -> None:
    # --device /dev/fuse: after the defaults, so it overrides their deny of 10:229
    devices = cgroups.with_implicit(
        [
            *DEFAULT_DEVICE_RULES,
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        ]
    )
    assert allowed(devices, DEV_CHAR, 10, 229, RW)
    assert not allowed(devices, DEV_CHAR, 10, 232, RW)


@pytest.mark.parametrize(
    ("devices", "access", "ok"),
    [
        # the last matching rule wins
        ([{"allow": True, "type": "c", "major": 1, "minor": 3},
          {"allow": False, "type": "c", "major": 1, "minor": 3}], R, False),
        ([{"allow": False, "type": "c", "major": 1, "minor": 3},
          {"allow": True, "type": "c", "major": 1, "minor": 3}], R, True),
        # a deny of one bit refuses a request that asks for it among others
        ([{"allow": True}, {"allow": False, "type": "c", "major": 1, "access": "w"}], RW, False),
        ([{"allow": True}, {"allow": False, "type": "c", "major": 1, "access": "w"}], R, True),
        # bits allowed by different rules add up
        ([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
          {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "w"}], RW, True),
        # an 'a' rule ignores major and minor, as v1's devices.allow does
        ([{"allow": False, "type": "a", "major": 7}], R, False),
        ([{"allow": True, "type": "a", "major": 7, "access": "r"}], R, True),
        # a missing or negative major/minor is a wildcard
        ([{"allow": True, "type": "c", "major": -1, "minor": -1}], RW, True),
        ([{"allow": True, "type": "c", "minor": 3, "access": "rw"}], RW, True),
        ([{"allow": True, "type": "b", "minor": 3, "access": "rw"}], RW, False),
    ],
)  # fmt: skip
def test_rule_semantics(devices: list[dict], access: int, ok: bool) -> None:
    assert df.decide(df.parse_rules(devices), DEV_CHAR, 1, 3, access) is ok
    assert allowed(devices, DEV_CHAR, 1, 3, access) is ok


_DEVICES = list(itertools.product((DEV_CHAR, DEV_BLOCK), (1, 5, 8, 10, 136), (0, 1, 3, 229)))
_ACCESSES = range(1, 8)


def _random_rules(rng: random.Random) -> list[dict]:
    out = []
    for _ in range(rng.randint(0, 12)):
        access = "".join(c for c in "rwm" if rng.random() < 0.5) or rng.choice("rwm")
        out.append(
            {
                "allow": rng.random() < 0.6,
                "type": rng.choice(("a", "c", "c", "b")),
                "major": rng.choice((None, -1, 1, 5, 8)),
                "minor": rng.choice((None, 0, 1, 3)),
                "access": access,
            }
        )
    return out


@pytest.mark.parametrize("seed", range(60))
def test_program_agrees_with_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    devices = _random_rules(rng) + ([] if seed % 3 else cgroups.with_implicit([]))
    parsed = df.parse_rules(devices)
    insns = df.compile_rules(parsed)
    assert_verifiable(insns)
    for dev, access in itertools.product(_DEVICES, _ACCESSES):
        assert run(insns, *dev, access) == int(df.decide(parsed, *dev, access)), (
            devices,
            dev,
            access,
        )


def test_the_real_rule_sets_agree_with_the_reference() -> None:
    for devices in (DEFAULT, PRIVILEGED):
        parsed = df.parse_rules(devices)
        insns = df.compile_rules(parsed)
        assert_verifiable(insns)
        for dev, access in itertools.product(_DEVICES, _ACCESSES):
            assert run(insns, *dev, access) == int(df.decide(parsed, *dev, access))


@pytest.mark.parametrize(
    "entry",
    [
        {"allow": True, "type": "x"},
        {"allow": True, "type": "c", "access": "rwx"},
        {"allow": True, "type": "c", "major": "1"},
        {"allow": True, "type": "c", "minor": True},
        {"allow": True, "type": "c", "major": 1 << 31},
    ],
)
def test_bad_rules_are_refused(entry: dict) -> None:
    with pytest.raises(ValueError):
        df.parse_rules([entry])


def test_defaults_of_a_rule() -> None:
    assert df.parse_rules([{"allow": True}]) == [df.Rule(True, "a", None, None, "rwm")]
    assert df.parse_rules([{"type": "c", "major": -1, "access": "mr"}]) == [
        df.Rule(False, "c", None, None, "rm")
    ]


def test_too_many_rules_are_refused() -> None:
    many = [
        {"allow": True, "type": "c", "major": n, "minor": 1, "access": "r"} for n in range(2000)
    ]
    with pytest.raises(ValueError, match="too many device rules"):
        df.compile_rules(df.parse_rules(many))


# ---- in the kernel, where it can run the program ----------------------------------------


def test_kernel_test_run_when_supported() -> None:
    """BPF_PROG_TEST_RUN of cgroup device programs: most kernels have no runner for them
    (ENOTSUPP); the integration tests then check the program for real, in a cgroup."""
    if os.geteuid() != 0:
        pytest.skip("bpf(BPF_PROG_LOAD) needs root")
    code = df.program(DEFAULT)
    try:
        fd = bpf.prog_load_cgroup_device(code)
    except OSError as e:
        pytest.skip(f"no cgroup device programs here: {e}")
    try:
        for (dev_type, major, minor), access, want in (
            ((DEV_CHAR, 1, 3), RW, 1),
            ((DEV_BLOCK, 8, 0), R, 0),
        ):
            ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
            try:
                assert bpf.prog_test_run(fd, ctx) == want
            except OSError as e:
                if e.errno in (524, errno.EINVAL, errno.EOPNOTSUPP):
                    pytest.skip("this kernel has no BPF_PROG_TEST_RUN for cgroup device programs")
                raise
    finally:
        os.close(fd)


def test_kernel_verifier_accepts_every_shape() -> None:
    """The verifier refuses what the static check above might miss (bad registers,
    return values out of 0..1): load one program of each kind."""
    if os.geteuid() != 0:
        pytest.skip("bpf(BPF_PROG_LOAD) needs root")
    rng = random.Random(7)
    sets = [DEFAULT, PRIVILEGED, [], [{"allow": False}], [{"allow": True, "type": "c"}]]
    sets += [_random_rules(rng) for _ in range(10)]
    for devices in sets:
        try:
            fd = bpf.prog_load_cgroup_device(df.program(devices))
        except OSError as e:
            if e.errno in (errno.ENOSYS, errno.EPERM):
                pytest.skip(f"no cgroup device programs here: {e}")
            raise AssertionError(f"{devices}: {e}") from None
        os.close(fd)
