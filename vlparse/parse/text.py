"""Text clean-up shared by every parser: code fences, chat-template leftovers."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:\r?\n```|\Z)", re.S)
_SPECIAL_TAIL = re.compile(r"(<\|im_end\|>|<\|endoftext\|>)+\s*$")


def strip_code_fence(text: str, prefer: str | None = None) -> str:
    """The body of the first fenced block (of language ``prefer`` if there is one), else the text.

    An unterminated fence (a truncated answer) yields everything after its opening line.
    """
    text = _SPECIAL_TAIL.sub("", text)
    blocks = _FENCE.findall(text)
    if not blocks:
        return text.strip()
    if prefer:
        for lang, body in blocks:
            if lang.lower() == prefer.lower():
                return body.strip()
    return blocks[0][1].strip()
