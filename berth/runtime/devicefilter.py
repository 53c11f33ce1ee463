"""OCI device rules -> a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup v2 has no
devices.allow; the kernel asks an eBPF program instead). Pure: no syscalls here.

Semantics (`decide()` is the reference, `compile_rules()` must agree with it): each
requested access bit (r, w, m) is decided by the last rule that matches the device
(type `a` = any; a major/minor of None = any) and names that bit; a bit no rule decides
is denied. The request is allowed only if every bit it asks for is. That is runc's
devicefilter and crun's ebpf.c (last matching rule wins), done per bit so that a
`deny c 1:3 w` also refuses an open for read+write.

The program walks the rules from the last to the first with the request's undecided
bits in r3:

    r2 = ctx->access_type & 0xffff     (BPF_DEVCG_DEV_BLOCK 1, _CHAR 2)
    r3 = ctx->access_type >> 16        (BPF_DEVCG_ACC_MKNOD 1, _READ 2, _WRITE 4)
    r4 = ctx->major; r5 = ctx->minor
    per rule, last first:
        if r2 != type || r4 != major || r5 != minor: next   (checks a wildcard skips)
        deny:  if r3 & bits: return 0
        allow: r3 &= ~bits; if r3 == 0: return 1
    return 0

Neighbouring rules of one type share the type check (and of one major the major
check), an allow of rwm is one `jeq r5, minor, allow`, and rules after one that decides
everything they could match are dropped: the kernel verifies every branch at each
container start, so the program is kept short (40 instructions for Docker's defaults).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

DEV_BLOCK = 1
DEV_CHAR = 2
ACC_MKNOD = 1
ACC_READ = 2
ACC_WRITE = 4
_ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
_ACCESS_BITS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_TYPES = {"c": DEV_CHAR, "b": DEV_BLOCK}
# the JNE immediate is sign-extended to 64 bits while the ctx fields are u32, so a
# number must stay below 2**31 to compare right (Linux majors have 12 bits, minors 20)
_MAX_NUMBER = 0x7FFFFFFF
# the verifier's limit for an unprivileged loader; far above any real rule list
MAX_INSNS = 4096

_BIG_ENDIAN = sys.byteorder == "big"

# opcodes (class | op | source) used here
_LDXW = 0x61  # BPF_LDX | BPF_W | BPF_MEM
_AND32 = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RSH32 = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_MOV64 = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JNE = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_JA = 0x05  # BPF_JMP | BPF_JA
_EXIT = 0x95  # BPF_JMP | BPF_EXIT
_NAMES = {_LDXW: "ldxw", _AND32: "and32", _RSH32: "rsh32", _MOV64: "mov", _JEQ: "jeq",
          _JNE: "jne", _JSET: "jset", _JA: "ja", _EXIT: "exit"}  # fmt: skip


# NamedTuples, not dataclasses: they are built at every container start, and a frozen
# dataclass costs several times more to make
class Rule(NamedTuple):
    """One device cgroup rule. type: 'a' (all), 'c' or 'b'; major/minor None = any
    (ignored for 'a', as v1's devices.allow does); access: a non-empty subset of 'rwm'."""

    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"

    @property
    def bits(self) -> int:
        out = 0
        for ch in self.access:
            out |= _ACCESS_BITS[ch]
        return out

    def matches(self, dev_type: int, major: int, minor: int) -> bool:
        if self.type == "a":
            return True
        return (
            _TYPES[self.type] == dev_type
            and (self.major is None or self.major == major)
            and (self.minor is None or self.minor == minor)
        )


def parse_rules(devices: Iterable[dict]) -> list[Rule]:
    """OCI linux.resources.devices entries -> rules. A missing type is 'a', a missing or
    negative major/minor any, a missing access 'rwm'. Raises ValueError on anything else."""
    out: list[Rule] = []
    for d in devices:
        typ = d.get("type") or "a"
        if typ not in ("a", "c", "b"):
            raise ValueError(f"invalid device rule type {typ!r}")
        access = d.get("access") or "rwm"
        if not isinstance(access, str) or any(ch not in _ACCESS_BITS for ch in access):
            raise ValueError(f"invalid device rule access {access!r}")
        nums: list[int | None] = []
        for key in ("major", "minor"):
            v = d.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"invalid device rule {key} {v!r}")
            if v is not None and v > _MAX_NUMBER:
                raise ValueError(f"device rule {key} {v} is out of range")
            nums.append(None if v is None or v < 0 else v)
        # one letter per bit, in a fixed order: equal rules compare equal
        access = "".join(ch for ch in "rwm" if ch in access)
        out.append(Rule(bool(d.get("allow")), typ, nums[0], nums[1], access))
    return out


def decide(rules: Sequence[Rule], dev_type: int, major: int, minor: int, access: int) -> bool:
    """Whether the rules allow `access` (ACC_* bits) to the device; the reference the
    compiled program is tested against."""
    if access == 0:
        return False
    for bit in (ACC_MKNOD, ACC_READ, ACC_WRITE):
        if not access & bit:
            continue
        for r in reversed(rules):
            if r.bits & bit and r.matches(dev_type, major, minor):
                if not r.allow:
                    return False
                break
        else:
            return False
    return True


class Insn(NamedTuple):
    """One struct bpf_insn."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        # struct bpf_insn's dst_reg:4, src_reg:4 bitfields: dst is the low nibble on a
        # little-endian host, the high one on a big-endian host
        regs = (self.dst << 4) | self.src if _BIG_ENDIAN else (self.src << 4) | self.dst
        return struct.pack("=BBhi", self.code, regs, self.off, self.imm)

    def __str__(self) -> str:
        name = _NAMES.get(self.code, f"op{self.code:#x}")
        if self.code == _EXIT:
            return name
        if self.code == _JA:
            return f"{name} {self.off:+d}"
        if self.code == _LDXW:
            return f"{name} r{self.dst}, [r{self.src}+{self.off}]"
        if self.code in (_JEQ, _JNE, _JSET):
            imm = hex(self.imm) if self.code == _JSET else str(self.imm)
            return f"{name} r{self.dst}, {imm}, {self.off:+d}"
        imm = hex(self.imm) if self.code == _AND32 else str(self.imm)
        return f"{name} r{self.dst}, {imm}"


class _Jump(NamedTuple):
    """A jump whose target is still a label."""

    code: int
    reg: int
    imm: int
    label: int


_DENY, _ALLOW = -1, -2  # the two exits, laid out after the rules


class _Asm:
    def __init__(self) -> None:
        self.items: list[Insn | _Jump] = []
        self.at: dict[int, int] = {}
        self._labels = 0

    def label(self) -> int:
        self._labels += 1
        return self._labels

    def place(self, label: int) -> None:
        self.at[label] = len(self.items)

    def jump(self, code: int, reg: int, imm: int, label: int) -> None:
        self.items.append(_Jump(code, reg, imm, label))

    def rule(self, r: Rule, minor: bool) -> bool:
        """The block applying `r` to a device whose type and major already matched (and
        minor too unless `minor`); True if it always decides (what follows is dead)."""
        if r.allow and r.bits == _ACC_ALL:
            if minor and r.minor is not None:
                self.jump(_JEQ, 5, r.minor, _ALLOW)
                return False
            self.jump(_JA, 0, 0, _ALLOW)
            return True
        nxt = self.label()
        if minor and r.minor is not None:
            self.jump(_JNE, 5, r.minor, nxt)
        if r.allow:
            self.items.append(Insn(_AND32, 3, imm=_ACC_ALL & ~r.bits))
            self.jump(_JEQ, 3, 0, _ALLOW)
        else:
            self.jump(_JSET, 3, r.bits, _DENY)
        self.place(nxt)
        return False

    def type_group(self, group: Sequence[Rule]) -> None:
        """Consecutive rules of one device type, under one type check; consecutive rules
        with one major under one major check."""
        end = self.label()
        self.jump(_JNE, 2, _TYPES[group[0].type], end)
        k = 0
        while k < len(group):
            r = group[k]
            if r.major is None:
                k += 1
                if self.rule(r, minor=True):
                    break  # it decides every device of this type
                continue
            m = k
            while m < len(group) and group[m].major == r.major:
                m += 1
            major_end = self.label()
            self.jump(_JNE, 4, r.major, major_end)
            for rr in group[k:m]:
                if self.rule(rr, minor=True):
                    break
            self.place(major_end)
            k = m
        self.place(end)

    def finish(self) -> list[Insn]:
        end = len(self.items)
        jumps = [j for j in self.items if isinstance(j, _Jump)]
        falls_through = not (jumps and self.items[-1] is jumps[-1] and jumps[-1].code == _JA)
        self.at[_DENY] = end
        # the verifier refuses code no path reaches: an exit only if something gets there
        if falls_through or any(self.at.get(j.label) == end for j in jumps):
            self.items += [Insn(_MOV64, 0, imm=0), Insn(_EXIT)]
        if any(j.label == _ALLOW for j in jumps):
            self.at[_ALLOW] = len(self.items)
            self.items += [Insn(_MOV64, 0, imm=1), Insn(_EXIT)]
        if len(self.items) > MAX_INSNS:
            raise ValueError(
                f"too many device rules: the program would have {len(self.items)} instructions"
            )
        out: list[Insn] = []
        for i, ins in enumerate(self.items):
            if isinstance(ins, _Jump):
                ins = Insn(ins.code, ins.reg, 0, self.at[ins.label] - (i + 1), ins.imm)
            out.append(ins)
        return out


def compile_rules(rules: Sequence[Rule]) -> list[Insn]:
    """The program enforcing `rules` (see the module docstring). Rules that can never
    decide anything (after one that decides every device they match) are left out, and
    neighbours share their type and major checks: the verifier's time grows with the
    branches, and it is paid at every container start."""
    asm = _Asm()
    asm.items += [
        Insn(_LDXW, 2, 1, 0),
        Insn(_AND32, 2, imm=0xFFFF),
        Insn(_LDXW, 3, 1, 0),
        Insn(_RSH32, 3, imm=16),
        Insn(_LDXW, 4, 1, 4),
        Insn(_LDXW, 5, 1, 8),
    ]
    rs = list(reversed(rules))
    i = 0
    while i < len(rs):
        r = rs[i]
        if r.type == "a":
            i += 1
            if not r.allow and r.bits == _ACC_ALL:
                break  # denies what is left: falling through to the deny exit says it
            if asm.rule(r, minor=False):
                break  # it decides every device: the rules before it never run
            continue
        j = i
        while j < len(rs) and rs[j].type == r.type:
            j += 1
        asm.type_group(rs[i:j])
        i = j
    return asm.finish()


def assemble(insns: Sequence[Insn]) -> bytes:
    """The program as BPF_PROG_LOAD takes it."""
    return b"".join(i.encode() for i in insns)


def program(devices: Iterable[dict]) -> bytes:
    """OCI device rules -> the encoded program (parse, compile, assemble)."""
    return assemble(compile_rules(parse_rules(devices)))
