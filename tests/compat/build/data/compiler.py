"""A compiler for a tiny language to a static x86-64 Linux ELF executable.

    print TEXT    writes TEXT and a newline to stdout
    exit N        the exit status (0 unless given)

Builtins only (the test toolchain carries no standard library beyond its start-up)."""

import sys

BASE = 0x400000


def u16(v):
    return v.to_bytes(2, "little")


def u32(v):
    return v.to_bytes(4, "little")


def u64(v):
    return v.to_bytes(8, "little")


def compile_(lines):
    prints, code = [], 0
    for n, line in enumerate(lines, 1):
        op, _, arg = line.strip().partition(" ")
        if op == "print":
            prints.append(arg.encode() + b"\n")
        elif op == "exit":
            code = int(arg)
        elif op:
            raise SystemExit(f"line {n}: unknown statement: {op}")
    # per print: mov eax,1; mov edi,1; movabs rsi,msg; mov edx,len; syscall (27 bytes)
    # then: mov eax,60; mov edi,code; syscall (12 bytes)
    addr = BASE + 120 + 27 * len(prints) + 12
    text = b""
    for p in prints:
        text += b"\xb8" + u32(1) + b"\xbf" + u32(1) + b"\x48\xbe" + u64(addr)
        text += b"\xba" + u32(len(p)) + b"\x0f\x05"
        addr += len(p)
    text += b"\xb8" + u32(60) + b"\xbf" + u32(code) + b"\x0f\x05"
    body = text + b"".join(prints)
    size = 120 + len(body)
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr += u16(2) + u16(0x3E) + u32(1) + u64(BASE + 120) + u64(64) + u64(0) + u32(0)
    ehdr += u16(64) + u16(56) + u16(1) + u16(0) + u16(0) + u16(0)
    phdr = u32(1) + u32(5) + u64(0) + u64(BASE) + u64(BASE) + u64(size) + u64(size) + u64(0x1000)
    return ehdr + phdr + body


with open(sys.argv[1]) as src:
    out = compile_(src)
with open(sys.argv[2], "wb") as f:
    f.write(out)
