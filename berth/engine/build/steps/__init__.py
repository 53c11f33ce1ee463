"""The steps of a build: FROM, and one handler per instruction (`_i_<instruction>`), one
module per family. Each step that makes an image looks for it in the cache first (its
parent and its container config are the key); RUN runs in a container; COPY, ADD and
WORKDIR write into the parent's root filesystem mounted for the step; the others change
the config only."""

from .files import FileSteps
from .from_ import FromSteps
from .metadata import MetadataSteps
from .run import RunSteps


class Steps(FromSteps, MetadataSteps, FileSteps, RunSteps):
    """All the instruction families over one build's state (see StepBase)."""


__all__ = ["Steps"]
