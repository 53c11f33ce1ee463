"""berth.engine.build.steps: every instruction the parser accepts has a handler in one of
the instruction families Steps is made of."""

from __future__ import annotations

from berth.engine.build import dockerfile as dfp
from berth.engine.build.steps import Steps
from berth.engine.build.steps.files import FileSteps
from berth.engine.build.steps.metadata import MetadataSteps
from berth.engine.build.steps.run import RunSteps


def test_every_instruction_but_from_has_a_handler() -> None:
    missing = [c for c in dfp.COMMANDS - {"from"} if not callable(getattr(Steps, "_i_" + c, None))]
    assert missing == []


def test_handlers_live_in_their_family() -> None:
    assert "_i_run" in vars(RunSteps)
    assert {"_i_copy", "_i_add", "_i_workdir"} <= set(vars(FileSteps))
    assert {"_i_env", "_i_label", "_i_arg", "_i_cmd"} <= set(vars(MetadataSteps))
    assert callable(Steps.from_) and callable(Steps.dispatch)
