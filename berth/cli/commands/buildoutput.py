"""What `berth build` shows of the daemon's stream: exactly docker's text when not on a
terminal, a live view (the step being run, the tail of its output, pull bars) on one; and
the upload's "Sending build context" progress."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

SENDING = "Sending build context to berth daemon"
_STEP = re.compile(r"Step \d+/\d+ : ")


def counted(chunks: Iterable[bytes], progress: Any) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        progress(sent, False)
        yield chunk
    progress(sent, True)


def sent_line(n: int) -> str:
    from berth.cli.units import human_size

    # JSONProgress.String() without a total: "%8v" of go-units HumanSize
    return f"{SENDING} {human_size(n):>8}"


# ---- the stream --------------------------------------------------------------------------
@dataclass
class Failed(Exception):
    message: str
    code: int


class Result:
    """What the stream said besides its text: the image id (aux)."""

    def __init__(self) -> None:
        self.image_id = ""


def messages(stream: Iterable[Any], result: Result) -> Iterator[dict[str, Any]]:
    """The displayable messages; aux goes to RESULT, an error message ends the stream."""
    for msg in stream:
        if not isinstance(msg, dict):
            continue
        err = msg.get("errorDetail") or {}
        if msg.get("error") or err.get("message"):
            raise Failed(str(err.get("message") or msg.get("error")), int(err.get("code") or 1))
        if "aux" in msg:
            aux = msg.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                result.image_id = aux["ID"]
            continue
        yield msg


def plain(msgs: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """docker's jsonmessage display, not on a terminal: stream text as it is, status lines
    as "id: status", progress updates left out."""
    for msg in msgs:
        if "stream" in msg:
            out.write(str(msg["stream"]))
            out.flush()
            continue
        status = msg.get("status")
        if status is None or msg.get("progressDetail"):
            continue
        ident = msg.get("id")
        out.write(f"{ident}: {status}\n" if ident else f"{status}\n")
        out.flush()


class LiveView:
    """The terminal view: finished steps are printed as docker prints them; below them,
    the step being run (spinner, elapsed time), the tail of its output and pull bars."""

    TAIL = 10

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
        from rich.spinner import Spinner

        self.console = Console(file=out, highlight=False, soft_wrap=True)
        self.bars = Progress(
            TextColumn("  {task.fields[ident]}:"),
            TextColumn("{task.description:<20}"),
            BarColumn(),
            DownloadColumn(),
            console=self.console,
        )
        self.tasks: dict[str, Any] = {}
        self.spinner = Spinner("dots", "")
        self.sending = ""
        self.step = ""
        self.step_start = time.monotonic()
        self.text: list[str] = []  # the current step's text, printed when it is done
        self.live = Live(self, console=self.console, refresh_per_second=8, transient=True)

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.live.stop()

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = []
        if self.sending:
            parts.append(Text(self.sending))
        if self.step:
            took = time.monotonic() - self.step_start
            # the time first: a long step line is cut at the terminal's edge
            head = Text.assemble((f"[{took:5.1f}s] ", "dim"), (self.step, "bold"))
            head.no_wrap, head.overflow = True, "ellipsis"
            self.spinner.update(text=head)
            parts.append(self.spinner)
            lines = [ln.rsplit("\r", 1)[-1] for ln in "".join(self.text[1:]).splitlines()]
            for ln in lines[-self.TAIL :]:
                parts.append(Text("  " + ln, style="dim", no_wrap=True, overflow="ellipsis"))
        if self.tasks:
            parts.append(self.bars)
        return Group(*parts)

    def print(self, text: str) -> None:
        from rich.text import Text

        clean = "\n".join(ln.rsplit("\r", 1)[-1] for ln in text.split("\n"))
        self.console.print(Text(clean), end="")

    def flush(self) -> None:
        """Print the current step's text for good and forget its bars."""
        if self.text:
            self.print("".join(self.text))
        self.text = []
        self.step = ""
        for task in self.tasks.values():
            self.bars.remove_task(task)
        self.tasks.clear()

    def progress(self, sent: int, last: bool) -> None:
        self.sending = "" if last else sent_line(sent)
        if last:
            self.print(sent_line(sent) + "\n")

    def show(self, msgs: Iterable[dict[str, Any]]) -> None:
        for msg in msgs:
            if "stream" in msg:
                text = str(msg["stream"])
                if _STEP.match(text):
                    self.flush()
                    self.step = text.strip()
                    self.step_start = time.monotonic()
                    self.text = [text]
                elif text.startswith("Successfully "):
                    self.flush()
                    self.print(text)
                else:
                    self.text.append(text)
                continue
            status = msg.get("status")
            if status is None:
                continue
            ident = msg.get("id")
            detail = msg.get("progressDetail") or {}
            if ident and (detail or ident in self.tasks):
                self._bar(str(ident), str(status), detail)
            if not detail:
                self.text.append(f"{ident}: {status}\n" if ident else f"{status}\n")

    def _bar(self, ident: str, status: str, detail: dict[str, Any]) -> None:
        task = self.tasks.get(ident)
        if task is None:
            task = self.tasks[ident] = self.bars.add_task(status, total=None, ident=ident)
        update: dict[str, Any] = {"description": status}
        if isinstance(detail.get("total"), int) and detail["total"] > 0:
            update["total"] = detail["total"]
        if isinstance(detail.get("current"), int):
            update["completed"] = detail["current"]
        self.bars.update(task, **update)
