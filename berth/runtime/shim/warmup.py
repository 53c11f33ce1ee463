"""What the zygote does before it forks shims, so that every shim shares those pages."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from berth.runtime.shim.poller import log
from berth.runtime.shim.protocol import EXIT_FILE, SOCKET_NAME, encode_message, exit_record
from berth.runtime.shim.server import Shim


def preload() -> None:
    """Import what a shim needs, in the zygote, so that shims share those pages."""
    import fcntl  # noqa: F401
    import termios  # noqa: F401

    try:
        from berth.runtime import executor

        prepare = getattr(executor, "prepare", None)
        if prepare is not None:
            prepare()  # host facts (cgroup layout, capability sets) read once, shared by shims
    except Exception as e:  # the shim reports a missing executor at start, not the zygote
        log(f"cannot preload the executor: {e}")


def rehearse(rounds: int = 20) -> None:
    """Run a shim's code paths (no container) in the zygote before it forks shims.

    CPython 3.11 writes into code objects while it warms up and specializes them; done here once,
    those pages stay shared with every shim instead of being copied into each one."""
    import shutil
    import tempfile

    cwd = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    bundle = tempfile.mkdtemp(prefix="bt-zygote-", dir="/tmp")
    try:
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(
                {"ociVersion": "1.0.2", "process": {"args": ["true"]}, "root": {"path": "/"}}, f
            )
        for _ in range(rounds):
            _rehearse_once(bundle)
    except Exception as e:  # only an optimisation: never let it stop the zygote
        log(f"rehearsal failed: {e}")
    finally:
        os.fchdir(cwd)
        os.close(cwd)
        shutil.rmtree(bundle, ignore_errors=True)


def _rehearse_once(bundle: str) -> None:
    sh = Shim(
        id="rehearsal",
        bundle=bundle,
        log_path=os.path.join(bundle, "log.json"),
        tty=False,
        open_stdin=True,
        stdin_once=True,
    )
    sh.setup()
    sh.init.load_config()
    streams = _client(sh, {"op": "attach", "stdin": True, "stdout": True, "stderr": True})
    waiter = _client(sh, {"op": "wait"})
    for req in ({"op": "state"}, {"op": "resize", "height": 1, "width": 1}, {"op": "signal"}):
        _client(sh, req).close()
    stdin_r, out_w, err_w = sh.init.stdio
    os.write(out_w, b"out\npartial")
    os.write(err_w, b"err\n")
    streams.sendall(b"in\n")
    sh.poller.poll(0)
    os.read(stdin_r, 100)
    # the container "exits"
    sh.init.io.close_child_fds()
    sh.init.exit = exit_record(0)
    sh.init.reaped_at = time.monotonic()
    sh.init.write_exit_file()
    sh.serve()
    streams.close()
    waiter.close()
    sh.poller.close()
    os.unlink(EXIT_FILE)


def _client(sh: Shim, req: dict[str, Any]) -> socket.socket:
    """A connection to `sh`'s socket that has sent `req` (and had it served)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(SOCKET_NAME)  # relative: the shim's cwd is its bundle
    sock.sendall(encode_message(req))
    sh.poller.poll(0)  # accepted
    sh.poller.poll(0)  # served, as the loop would
    return sock
