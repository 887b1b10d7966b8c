"""The one backend interface: a batch of (image, prompt) requests in, raw answers out.

Backends: ``local`` (transformers on this machine), ``openai`` (an OpenAI-compatible server such
as vLLM or SGLang), ``recorded`` (answers produced elsewhere, for ``--from-output``).
Everything after the backend (parsing, validation, mapping, export) is shared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vlparse.core.families import Family
from vlparse.core.options import MAX_NEW_TOKENS, TaskKind
from vlparse.core.prompt import Prompt

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image


@dataclass
class Request:
    key: str  # unique per page within a run, e.g. "report.pdf#3"
    image: Image  # already at the model's native size (sides on the family's factor)
    prompt: Prompt
    max_new_tokens: int = MAX_NEW_TOKENS[TaskKind.DOC]
    temperature: float = 0.0
    repetition_penalty: float = 1.0
    #: the pixel budget the image was prepared for (the processor gets the same numbers)
    min_pixels: int | None = None
    max_pixels: int | None = None


@dataclass
class Answer:
    key: str
    text: str
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    new_tokens: int = 0
    error: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Backend(ABC):
    """Generates raw answers. Implementations must return one Answer per Request, in order.

    A failure of one request is reported in its Answer (``finish_reason="error"``) rather than
    raised, so one bad page never costs the batch; errors that doom the whole run (model cannot
    load, server unreachable, out of memory at batch size 1) raise a VlparseError.
    """

    name: str = "backend"
    family: Family
    model_name: str = ""
    #: how many requests the caller should hand over at once
    batch_size: int = 1

    #: True for backends that schedule requests themselves (servers): the runner then hands pages over one by
    #: one with :meth:`submit` as slots free up, instead of in batches that wait for their slowest page
    streaming: bool = False

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        ...

    def submit(self, request: Request) -> Future[Answer]:
        """Start one request; its future gives the Answer (streaming backends only)."""
        raise NotImplementedError(f"the {self.name} backend answers in batches (generate)")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (GPU memory, HTTP sessions)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
