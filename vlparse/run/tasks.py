"""What ``doc`` and ``ground`` differ in: the prompt, the parser, and the retry policy.

A task turns one raw answer into a :class:`~vlparse.core.results.PageResult`, and says how to ask
again when the answer was truncated or looping (olmOCR-style: more tokens, then a repetition
penalty, then a little temperature), so the runner can keep the best attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlparse.core.prompt import Prompt
from vlparse.core.families import Family
from vlparse.core.results import FAILED, OK, REPAIRED, REPETITION, SUSPECT, TRUNCATED, PageInfo, PageResult

_RANK = {OK: 4, REPAIRED: 3, SUSPECT: 3, REPETITION: 2, TRUNCATED: 2, FAILED: 0}
MAX_TOKENS_CAP = 32768


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    temperature: float = 0.0
    repetition_penalty: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "repetition_penalty": self.repetition_penalty}


def quality(result: PageResult) -> tuple[int, int, int]:
    """Higher is better: complete answers first, then those that keep to the schema (extract), then the one
    that found more."""
    from vlparse.parse.extract import SCHEMA_WARNING

    violations = sum(w.startswith(SCHEMA_WARNING) for w in result.warnings)
    return _RANK.get(result.status, 1), -violations, len(result.blocks) + len(result.detections)


def next_decoding(attempt: int, last: PageResult, base: Decoding) -> Decoding | None:
    """Decoding for retry number ``attempt`` (1-based), or None when the last answer is fine."""
    if last.status not in (TRUNCATED, REPETITION) and not (last.status == FAILED and last.raw):
        return None
    if last.status == TRUNCATED:
        return Decoding(min(base.max_new_tokens * 2 ** attempt, MAX_TOKENS_CAP), 0.0 if attempt == 1 else 0.2,
                        1.05)
    # a loop (or an unusable answer): discourage repeats, then add a little randomness
    return Decoding(base.max_new_tokens, 0.0 if attempt == 1 else 0.3, 1.1 if attempt == 1 else 1.15)


@dataclass
class Task:
    name: str  # "doc" | "ground" | "extract"
    family: Family
    prompt: Prompt
    decoding: Decoding
    want: str = "bbox"  # ground: "bbox" | "point"
    queries: list[str] = field(default_factory=list)
    schema: Any = None  # extract: vlparse.parse.extract.ExtractSchema
    date_order: str = "dmy"  # extract: how ambiguous numeric dates are read
    answer_format: str = "html"  # doc: "html" (QwenVL HTML) | "qwenvl-markdown" (Qwen3-VL's QwenVL Markdown)

    def parse(self, text: str, finish_reason: str, info: PageInfo, *, context_limit: int | None = None) -> PageResult:
        """``context_limit``: the backend lowered the token limit to this many new tokens to fit the server's
        context (a stop there is the context's end, not ``--max-new-tokens``)."""
        from vlparse.parse.text import clean_answer_text

        # the raw answer is written to every output: make it encodable first (lone surrogates, NUL)
        text, notes = clean_answer_text(text if isinstance(text, str) else "")
        if self.name == "doc":
            res = self._parse_doc(text, finish_reason, info)
        elif self.name == "extract":
            res = self._parse_extract(text, finish_reason, info)
        else:
            res = self._parse_ground(text, finish_reason, info)
        res = _mark_finish(res, finish_reason, context_limit)
        if notes:
            res.warnings[:0] = [n for n in notes if n not in res.warnings]
            if res.status == OK:
                res.status = REPAIRED
        return res

    def feedback(self, result: PageResult) -> str | None:
        """Extract: the validation errors to give back to the model in one more attempt, or None."""
        if self.name != "extract":
            return None
        from vlparse.parse.extract import SCHEMA_WARNING, feedback

        errors = [w[len(SCHEMA_WARNING):] for w in result.warnings if w.startswith(SCHEMA_WARNING)]
        return feedback(errors) if errors else None

    def prompt_for(self, feedback: str | None) -> Prompt:
        """The prompt of an attempt: the task's own, plus the feedback of the attempt before."""
        if not feedback:
            return self.prompt
        return Prompt(self.prompt.system, f"{self.prompt.user}\n\n{feedback}")

    def _parse_extract(self, text: str, finish_reason: str, info: PageInfo) -> PageResult:
        from vlparse.parse.extract import parse_extraction
        from vlparse.parse.repair import cut_repetition

        body, loop = cut_repetition(text)
        parsed = parse_extraction(body, self.schema, self.family, info.frame, self.date_order)
        res = PageResult(info, OK, list(parsed.warnings), detections=list(parsed.values), raw=text)
        if loop:
            res.status = REPETITION
            res.warnings.append(f"repetition loop cut: {loop}")
        elif parsed.truncated:
            res.status = TRUNCATED
        elif not parsed.found:
            res.status, res.error = FAILED, "the answer holds no JSON object"
        elif res.warnings:
            res.status = REPAIRED
        return res

    def _parse_doc(self, text: str, finish_reason: str, info: PageInfo) -> PageResult:
        if self.answer_format == "qwenvl-markdown":
            from vlparse.parse.qwenvl_markdown import parse_page_markdown

            parsed = parse_page_markdown(text, self.family, info)
        else:
            from vlparse.parse.html import parse_page_html

            parsed = parse_page_html(text, self.family, info)
        res = PageResult(info, parsed.status, list(parsed.warnings), list(parsed.blocks), raw=text,
                         error=parsed.error)
        return res

    def _parse_ground(self, text: str, finish_reason: str, info: PageInfo) -> PageResult:
        from vlparse.parse.grounding import parse_grounding
        from vlparse.parse.repair import cut_repetition

        body, loop = cut_repetition(text)
        parsed = parse_grounding(body, self.family, info.frame, want=self.want, queries=self.queries)
        res = PageResult(info, OK, list(parsed.warnings), detections=list(parsed.detections), raw=text)
        if loop:
            res.status = REPETITION
            res.warnings.append(f"repetition loop cut: {loop}")
        elif parsed.truncated:
            res.status = TRUNCATED
        elif res.warnings:
            res.status = REPAIRED
        return res


def _mark_finish(res: PageResult, finish_reason: str, context_limit: int | None = None) -> PageResult:
    if finish_reason == "length" and res.status not in (REPETITION, FAILED):
        if context_limit is not None:
            res.warnings.append(f"the answer reached the end of the server's context (max_model_len): only "
                                f"{context_limit} new tokens fit after this page; use a smaller --max-pixels or a "
                                "server with a larger --max-model-len")
        elif res.status != TRUNCATED:
            res.warnings.append("the answer stopped at the token limit (--max-new-tokens)")
        res.status = TRUNCATED
    return res
