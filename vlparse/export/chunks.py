"""Retrieval chunks of a parsed document: heading-aware, in reading order, with provenance (pure).

``chunk_document(doc, max_tokens=512)`` walks the pages' blocks in reading order:

- a heading closes the current chunk and sets the heading path (``headings``: the enclosing headings,
  outermost first, by their ``level``); heading text is not repeated in ``text`` (``contextualized()``
  gives both);
- page headers, footers and page numbers are left out (they repeat on every page); blocks with no text
  (a figure without caption) too;
- blocks are packed into a chunk while the chunk's text stays within ``max_tokens``; a section may run on
  over several pages (every block keeps its own page);
- tables, charts, formulas, code and each list item are never split (a list may be split between its
  items); one that alone exceeds ``max_tokens`` becomes a chunk of its own, flagged ``oversize``;
  a paragraph longer than ``max_tokens`` is split between sentences (between words if one sentence is
  too long), each piece keeping the paragraph's box;
- every chunk lists the blocks it came from (``blocks``: ``page``, ``type``, ``bbox_px``, ``bbox_pt``);
- the chunk ``id`` is a hash of the document's file name, the first block's page and box and the text, so
  reruns give the same ids, whatever directory they run in.

Token counts use the ``count_tokens`` function given (vlparse passes the model's tokenizer when a local
model is loaded); without one they are an approximation, stated in every chunk's ``token_count``:
``approx:chars/4`` (characters divided by 4, rounded up: about right for English with BPE tokenizers).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Callable

from vlparse.core.results import SCHEMA_VERSION, Block, Document

APPROX = "approx:chars/4"
#: block types left out of chunks: they repeat on every page
SKIPPED = frozenset({"header", "footer", "page_number"})
#: block types never split, whatever their size
ATOMIC = frozenset({"table", "chart", "formula", "chemical_formula", "music_sheet", "code", "list_item"})
DEFAULT_MAX_TOKENS = 512


def approx_tokens(text: str) -> int:
    """The stated approximation: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / 4)


@dataclass
class Chunk:
    id: str
    source: str
    index: int  # position in the document's chunks
    text: str
    headings: list[str]
    tokens: int
    token_count: str  # how ``tokens`` was counted: "tokenizer:NAME" or APPROX
    blocks: list[dict[str, Any]] = field(default_factory=list)  # provenance, one entry per block (part)
    oversize: bool = False  # one unsplittable block larger than max_tokens

    @property
    def pages(self) -> list[int]:
        return sorted({b["page"] for b in self.blocks})

    def contextualized(self) -> str:
        """The heading path and the text, for embedding."""
        return "\n".join([*self.headings, self.text]) if self.headings else self.text

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "id": self.id, "source": self.source, "index": self.index,
                "text": self.text, "headings": list(self.headings), "pages": self.pages, "tokens": self.tokens,
                "token_count": self.token_count, "oversize": self.oversize, "blocks": [dict(b) for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(d["id"], d["source"], d["index"], d["text"], list(d.get("headings", [])), d["tokens"],
                   d["token_count"], [dict(b) for b in d.get("blocks", [])], bool(d.get("oversize")))


@dataclass
class _Unit:
    text: str
    prov: dict[str, Any]
    atomic: bool


def _prov(page: int, block: Block, index: int, box=None, box_pt=None, kind: str | None = None) -> dict[str, Any]:
    return {"page": page, "block": index, "type": kind or block.type,
            "bbox_px": box if box is not None else block.bbox_px,
            "bbox_pt": box_pt if box_pt is not None else block.bbox_pt}


def _units(page: int, index: int, block: Block) -> list[_Unit]:
    if block.type == "list" and block.attrs.get("items"):
        out = []
        for item in block.attrs["items"]:
            text = (item.get("text") or "").strip()
            if text:
                out.append(_Unit(text, _prov(page, block, index, item.get("bbox_px") or block.bbox_px,
                                              item.get("bbox_pt") or block.bbox_pt, "list_item"), True))
        return out
    text = (block.text or "").strip()
    if block.type == "figure" and not text:
        text = str(block.attrs.get("caption") or block.attrs.get("ocr_text") or "").strip()
    if block.type == "formula" and block.attrs.get("latex"):
        text = f"$${block.attrs['latex']}$$"
    if not text:
        return []
    return [_Unit(text, _prov(page, block, index), block.type in ATOMIC)]


_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")


def _split(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """A paragraph cut between sentences (words when a sentence is too long) into pieces within max_tokens."""
    pieces: list[str] = []
    for sentence in _SENTENCE.split(text):
        words = [sentence] if count(sentence) <= max_tokens else sentence.split()
        for w in words:
            if pieces and count(pieces[-1] + " " + w) <= max_tokens:
                pieces[-1] += " " + w
            else:
                pieces.append(w)
    return pieces


def chunk_document(doc: Document, *, max_tokens: int = DEFAULT_MAX_TOKENS,
                   count_tokens: Callable[[str], int] | None = None, tokenizer_name: str | None = None,
                   tokenizer: Any = None) -> list[Chunk]:
    """The document's chunks (see the module docstring).

    ``tokenizer``: a Hugging Face tokenizer (or anything with ``encode``) to count with, e.g. the model's
    ``AutoTokenizer.from_pretrained(model)``; or ``count_tokens``: any ``text -> int``. Neither: chars/4.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if tokenizer is not None and count_tokens is None:
        def count_tokens(text: str) -> int:
            try:
                return len(tokenizer.encode(text, add_special_tokens=False))
            except TypeError:  # an encode() without that keyword (tiktoken and the like)
                return len(tokenizer.encode(text))

        tokenizer_name = tokenizer_name or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    count = count_tokens or approx_tokens
    how = f"tokenizer:{tokenizer_name or 'model'}" if count_tokens else APPROX
    name = PurePath(doc.source).name
    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []
    current: list[_Unit] = []
    oversize = False

    def flush() -> None:
        nonlocal current, oversize
        if current:
            text = "\n\n".join(u.text for u in current)
            first = current[0].prov
            key = f"{name}\x00{first['page']}\x00{first['bbox_px']}\x00{text}"
            cid = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
            chunks.append(Chunk(cid, doc.source, len(chunks), text, [h for _, h in headings], count(text), how,
                                [u.prov for u in current], oversize))
        current, oversize = [], False

    for page in doc.pages:
        for i, block in enumerate(page.blocks):
            if block.type in SKIPPED:
                continue
            if block.type == "heading":
                flush()
                level = int(block.attrs.get("level") or 1)
                text = " ".join((block.text or "").split())
                headings = [(lv, h) for lv, h in headings if lv < level] + ([(level, text)] if text else [])
                continue
            for unit in _units(page.info.page, i, block):
                parts = [unit] if unit.atomic or count(unit.text) <= max_tokens else [
                    _Unit(t, unit.prov, False) for t in _split(unit.text, max_tokens, count)]
                for part in parts:
                    joined = "\n\n".join([*(u.text for u in current), part.text])
                    if current and count(joined) > max_tokens:
                        flush()
                    current.append(part)
                    if count(part.text) > max_tokens:  # an unsplittable part alone over the limit
                        oversize = True
                        flush()
    flush()
    return chunks


def render_chunks_jsonl(chunks: list[Chunk]) -> str:
    import json

    return "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks)
