"""The prompt type: what a request asks the model, independent of any backend."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    system: str | None
    user: str
