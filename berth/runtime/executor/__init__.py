"""The builtin OCI executor: start a container from an OCI config dict.

spawn() runs in the per-container shim. The parent work (parsing the config,
creating the cgroup, opening namespace files) happens before fork; the child
only replays a precomputed plan through `syscalls.sys_` and execs. A CLOEXEC
pipe carries a setup failure back as text, so spawn() returns only once execve
has succeeded.

exec_process() starts an extra process in a running container (docker exec) the
same way: it plans joins of the init's namespaces and cgroup instead of new
ones, then replays the same process steps (user, capabilities, cwd, execve).

Both join a new session keyring of their own, and load the container's seccomp filter,
compiled here in the parent (berth.runtime.seccomp) so the child only installs it.

The parts: `planning` (config -> Plan, in the parent), `child` (the Plan replayed
through a Syscalls object, ending in execve), `launch` (fork, wait for the exec, clean up).
"""

from __future__ import annotations

from berth.runtime.executor.child import look_path, prepare_child, setup
from berth.runtime.executor.errors import ExecError, StartError
from berth.runtime.executor.launch import (
    cleanup,
    container_pty,
    exec_process,
    oom_killed,
    receive_console,
    spawn,
)
from berth.runtime.executor.planning import Plan, plan, plan_exec, prepare

__all__ = [
    "ExecError",
    "Plan",
    "StartError",
    "cleanup",
    "container_pty",
    "exec_process",
    "look_path",
    "oom_killed",
    "plan",
    "plan_exec",
    "prepare",
    "prepare_child",
    "receive_console",
    "setup",
    "spawn",
]
