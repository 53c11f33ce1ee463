"""Records data/containerspec-golden.json from the current build(); run once by hand
(python3 -m tests.unit.cli.record_containerspec) before a change to containerspec.py."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from berth.cli.commands.containerspec import build
from berth.cli.commands.run import RUN
from berth.cli.context import StatusError
from berth.cli.flags import UsageError, parse
from tests.unit.cli.containerspec_cases import CASES, ENV, FILES

GOLDEN = Path(__file__).parent / "data" / "containerspec-golden.json"


def outcome(argv: list[str], directory: str) -> dict[str, Any]:
    """The encoded create body, or the error the flags raise."""
    real = [a.replace("{dir}", directory) for a in argv]
    try:
        opts, args = parse(RUN, real)
        body = build(RUN, opts, args, detach=opts.detach)
    except UsageError as exc:
        return {"usage_error": str(exc).replace(directory, "{dir}")}
    except StatusError as exc:
        return {"status": exc.status, "error": str(exc).replace(directory, "{dir}")}
    return {"body": json.dumps(body).replace(directory, "{dir}")}


def make_files(directory: str) -> None:
    for name, text in FILES.items():
        Path(directory, name).write_text(text)


def main() -> None:
    os.environ.update(ENV)
    os.environ.pop("NOT_SET_ANYWHERE", None)
    with tempfile.TemporaryDirectory() as d:
        make_files(d)
        records = [{"argv": argv, **outcome(argv, d)} for argv in CASES]
    GOLDEN.write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
