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


def strip_code_fence(text: str, prefer: str | None = None) -> str:
    """The body of the first fenced block (of language ``prefer`` if there is one), else the text."""
    text = strip_special_tokens(text)
    blocks = code_fences(text)
    if not blocks:
        return text.strip()
    if prefer:
        for lang, body in blocks:
            if lang.lower() == prefer.lower():
                return body.strip()
    return blocks[0][1].strip()
