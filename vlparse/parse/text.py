"""Text clean-up shared by every parser: code fences, chat-template leftovers."""

from __future__ import annotations

import re

#: a fenced block: its language (maybe empty) and body; the newline after the opening fence is optional
#: (```json[...]```), and an unterminated fence (a truncated answer) runs to the end of the text
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)(?:\r?\n)?(?:```|\Z)", re.S)
_SPECIAL = re.compile(r"<\|(?:im_end|endoftext|im_start)\|>")


def strip_special_tokens(text: str) -> str:
    """Chat-template tokens a server or decoder left in the answer."""
    return _SPECIAL.sub("", text)


def code_fences(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return _FENCE.findall(text)


#: a line that is only a fence: ```` ```html ```` opens, a bare ```` ``` ```` closes
_FENCE_LINE = re.compile(r"^[ \t]*(`{3,})[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?$", re.M)


def strip_code_fence(text: str, prefer: str | None = None) -> str:
    """The body of the answer's own fenced block (of language ``prefer`` if there is one), else the text.

    Only the outer fence is removed: fences inside the content (a ```` ```python ```` block inside
    ``<pre><code>``) are content. Fence lines nest (a fence line naming a language opens, a bare one
    closes), so the outer block ends at the bare fence line that balances its opening line, or at the
    end of the text (a truncated answer).
    """
    text = strip_special_tokens(text)
    lines = list(_FENCE_LINE.finditer(text))
    openers = [m for m in lines if m.group(2)] or lines[:1]
    if prefer:
        openers = [m for m in openers if m.group(2).lower() == prefer.lower()] or openers
    if openers:
        opener = openers[0]
        depth, end = 1, len(text)
        for m in lines:
            if m.start() <= opener.start():
                continue
            if m.group(2):
                depth += 1
            elif len(m.group(1)) >= len(opener.group(1)):
                depth -= 1
                if depth == 0:
                    end = m.start()
                    break
        return text[opener.end():end].strip()
    blocks = code_fences(text)
    if not blocks:
        return text.strip()
    if prefer:
        for lang, body in blocks:
            if lang.lower() == prefer.lower():
                return body.strip()
    return blocks[0][1].strip()


#: characters no answer text may carry: C0 controls other than tab/newline/CR (NUL first), DEL
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: UTF-16 halves without their partner (``json.loads('"\\ud800"')`` makes them): unencodable as UTF-8
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_answer_text(text: str) -> tuple[str, list[str]]:
    """An answer's text made safe to parse and to write: lone surrogates become U+FFFD and control
    characters (NUL, ...) are removed, one warning for each kind (never silently)."""
    notes: list[str] = []
    n = len(_SURROGATE.findall(text))
    if n:
        text = _SURROGATE.sub("\ufffd", text)
        notes.append(f"replaced {n} lone surrogate code point(s) in the answer with U+FFFD")
    n = len(_CONTROL.findall(text))
    if n:
        text = _CONTROL.sub("", text)
        notes.append(f"removed {n} control character(s) (NUL, ...) from the answer")
    return text, notes
