"""pump: the messages workers emit reach the stream while the task runs, and none is lost
when the task ends."""

from __future__ import annotations

import asyncio
import threading

from berth.engine.images.registry.progress import Reporter, pump, status


def test_pump_yields_every_message_emitted_from_a_thread() -> None:
    async def run() -> list[dict]:
        rep = Reporter(asyncio.get_running_loop())
        release = threading.Event()

        def work() -> str:
            rep.emit(status("first", "a"))
            release.wait(5)
            for i in range(3):
                rep.emit(status(f"late {i}", "a"))
            return "done"

        task = asyncio.ensure_future(asyncio.to_thread(work))
        got = []
        async for msg in pump(rep, task):
            got.append(msg)
            if msg["status"] == "first":
                release.set()
        assert task.result() == "done"
        return got

    got = asyncio.run(run())
    assert [m["status"] for m in got] == ["first", "late 0", "late 1", "late 2"]


def test_pump_of_a_finished_task_drains_the_queue() -> None:
    async def run() -> list[dict]:
        rep = Reporter(asyncio.get_running_loop())
        task: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task.set_result(None)
        rep.queue.put_nowait(status("queued"))
        return [m async for m in pump(rep, task)]

    assert asyncio.run(run()) == [{"status": "queued"}]
