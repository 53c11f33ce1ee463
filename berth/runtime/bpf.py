"""bpf(2): the few commands berth needs to guard a cgroup v2's devices.

The seam for the syscall (glibc has no wrapper): load a BPF_PROG_TYPE_CGROUP_DEVICE
program, attach it to a cgroup directory, list what is attached, and BPF_PROG_TEST_RUN
where the kernel offers it. Failures raise OSError(errno, "bpf(<command>): ...").
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct

# enum bpf_cmd
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
# enum bpf_prog_type / bpf_attach_type
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
# without it a second program (a nested cgroup's, systemd's) could not coexist with ours
BPF_F_ALLOW_MULTI = 1 << 1

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}.get(
    platform.machine(), 321
)
# the kernel verifier's log for a refused program: enough for a few hundred instructions
_LOG_SIZE = 1 << 16

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]


# union bpf_attr for the commands below, as a type made once: ctypes builds a new class
# for every new array length, which a freshly forked shim would pay for at each start
_Attr = ctypes.c_char * 128
_LOAD = struct.Struct("=IIQQIIQ")  # prog_type, insn_cnt, insns, license, log_*
_ATTACH = struct.Struct("=IIII")  # target_fd, attach_bpf_fd, attach_type, attach_flags
_QUERY = struct.Struct("=IIIIQII")  # target_fd, attach_type, query/attach flags, ids, cnt
_TEST_RUN = struct.Struct("=IIIIQQIIIIQQ")
_BY_ID = struct.Struct("=I")  # prog_id


def _bpf(
    cmd: int, layout: struct.Struct, *values: int, what: str
) -> tuple[int, ctypes.Array[ctypes.c_char]]:
    """bpf(cmd, attr) with the attr's leading fields packed from `values` (the kernel
    zero-fills the rest of its own copy); returns the result and the attr, which the
    kernel may have written to. Raises OSError."""
    attr = _Attr()
    layout.pack_into(attr, 0, *values)
    ret = _syscall(_SYS_BPF, cmd, ctypes.addressof(attr), layout.size)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({what}): {os.strerror(err)}")
    return int(ret), attr


def _address(data: bytes) -> int:
    """The address of a bytes object's buffer (no copy; valid while `data` lives)."""
    return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0


def prog_load_cgroup_device(insns: bytes, license: str = "Apache") -> int:
    """BPF_PROG_LOAD a cgroup device program from encoded instructions; returns its fd
    (O_CLOEXEC, as every bpf fd). On refusal the verifier's log is in the error."""
    lic = license.encode()

    def load(log: ctypes.Array[ctypes.c_char] | None) -> int:
        fd, _ = _bpf(
            BPF_PROG_LOAD,
            _LOAD,
            BPF_PROG_TYPE_CGROUP_DEVICE,
            len(insns) // 8,
            _address(insns),
            _address(lic),
            1 if log is not None else 0,
            len(log) if log is not None else 0,
            ctypes.addressof(log) if log is not None else 0,
            what="BPF_PROG_LOAD",
        )
        return fd

    try:
        return load(None)
    except OSError as e:
        first = e
    if first.errno == errno.EPERM:
        # before Linux 5.11 programs were charged to RLIMIT_MEMLOCK; raise it only for
        # this load, so the container's processes do not inherit the higher limit
        old = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        try:
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.setrlimit(resource.RLIMIT_MEMLOCK, unlimited)
            return load(None)
        except (OSError, ValueError):
            pass
        finally:
            try:
                resource.setrlimit(resource.RLIMIT_MEMLOCK, old)
            except (OSError, ValueError):
                pass
    # load once more with the verifier's log, only to say why
    log = ctypes.create_string_buffer(_LOG_SIZE)
    try:
        return load(log)
    except OSError as e:
        text = log.value.decode(errors="replace").strip()
        detail = f": {text}" if text else ""
        raise OSError(e.errno, f"{first.strerror}{detail}") from None


def prog_attach(prog_fd: int, cgroup_fd: int, *, flags: int = BPF_F_ALLOW_MULTI) -> None:
    """BPF_PROG_ATTACH the program to the cgroup directory open as `cgroup_fd`
    (attach type BPF_CGROUP_DEVICE). The attachment holds the program: the caller may
    close its fd; the program is freed with the cgroup."""
    _bpf(
        BPF_PROG_ATTACH,
        _ATTACH,
        cgroup_fd,
        prog_fd,
        BPF_CGROUP_DEVICE,
        flags,
        what="BPF_PROG_ATTACH, BPF_CGROUP_DEVICE",
    )


def prog_query(cgroup_fd: int, *, effective: bool = False) -> list[int]:
    """Ids of the BPF_CGROUP_DEVICE programs attached to the cgroup (with `effective`,
    also those inherited from its ancestors, which the kernel runs too)."""
    size = 64  # the kernel's limit per cgroup and attach type, as of 6.x
    while True:
        ids = (ctypes.c_uint32 * size)()
        try:
            _, attr = _bpf(
                BPF_PROG_QUERY,
                _QUERY,
                cgroup_fd,
                BPF_CGROUP_DEVICE,
                1 if effective else 0,  # BPF_F_QUERY_EFFECTIVE
                0,
                ctypes.addressof(ids),
                size,
                0,
                what="BPF_PROG_QUERY, BPF_CGROUP_DEVICE",
            )
        except OSError as e:
            if e.errno == errno.ENOSPC and size < 1 << 16:
                size *= 2  # more programs than the buffer holds (a newer kernel's limit)
                continue
            raise
        count = struct.unpack_from("=I", attr, 24)[0]
        return list(ids[:count])


def prog_fd_by_id(prog_id: int) -> int:
    """An fd for the loaded program with this id (as prog_query lists them); OSError
    ENOENT once the kernel has freed it."""
    fd, _ = _bpf(BPF_PROG_GET_FD_BY_ID, _BY_ID, prog_id, what="BPF_PROG_GET_FD_BY_ID")
    return fd


def prog_test_run(prog_fd: int, ctx: bytes) -> int:
    """Run the program once on `ctx` (BPF_PROG_TEST_RUN); return its r0. Many kernels
    have no test runner for cgroup device programs: then OSError ENOTSUPP (524) or
    EINVAL."""
    # prog_fd, retval, data_size_in, data_size_out, data_in, data_out, repeat, duration,
    # ctx_size_in, ctx_size_out, ctx_in, ctx_out
    _, attr = _bpf(
        BPF_PROG_TEST_RUN,
        _TEST_RUN,
        prog_fd, 0, 0, 0, 0, 0, 1, 0, len(ctx), 0, _address(ctx), 0,
        what="BPF_PROG_TEST_RUN",
    )  # fmt: skip
    return int(struct.unpack_from("=I", attr, 4)[0])
