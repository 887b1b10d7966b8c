"""Markdown for a parsed document (GitHub-flavoured).

- headings ``#``..``######``; paragraphs, captions, footnotes and quotes as text (``>`` for quotes);
- lists as ``-`` / ``1.`` items (boxed lists and runs of list items alike);
- tables as GFM pipe tables, or as the sanitised HTML table when a cell spans rows or columns
  (GFM cannot say that);
- formulas as ``$$ … $$`` display math; code, ABC music and SMILES in fenced blocks
  (```` ```python ````, ```` ```abc ````, ```` ```smiles ````);
- figures and charts as an image placeholder whose target names the page and the box in
  original page pixels: ``![Figure 1: …](#page=1&bbox_px=12,34,567,890)`` (nothing is fetched);
- page headers, footers and page numbers as HTML comments (kept, but out of the reading flow);
- pages start with ``<!-- page N -->`` (plus the status when it is not ``ok``) and are separated
  by a ``---`` rule.

Text from the model is escaped (``<``, entity-like ``&``, every ``[`` — so no inline link, image,
reference link or reference definition ``[t]: http://…`` can form —, bare ``http://`` / ``www.`` /
e-mail autolinks, and line-leading Markdown markers), so an answer cannot inject HTML, links or
remote images through Markdown.
"""

from __future__ import annotations

import re

from vlparse.core.results import OK, Block, Document, PageResult
from vlparse.parse.sanitize import sanitize_fragment

_LINE_START = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|>|[+\-*](?=\s|$)|\d{1,9}[.)](?=\s|$))")
_BACKTICKS = re.compile(r"`+")
_ENTITY = re.compile(r"&(?=#?\w+;)")
#: what GFM links without brackets (autolink extension): scheme URLs, www. names, e-mail addresses
_BARE_LINK = re.compile(r"[A-Za-z][\w+.-]*://|\bwww\.|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)


def escape_text(text: str, line_start: bool = True) -> str:
    """Model text as literal Markdown: no raw HTML, no links or images, no accidental headings or lists.

    Emphasis characters are left alone: the text stays readable, and ``*`` or ``_`` can only
    change the look, never load or run anything.
    """
    text = _ENTITY.sub("&amp;", text).replace("<", "&lt;").replace("[", "\\[").replace("](", "]\\(")
    text = _BARE_LINK.sub(lambda m: m.group(0).replace("://", ":\\/\\/").replace(".", "\\.", 1)
                          .replace("@", "\\@"), text)
    if not line_start:  # inside a heading, list item or table cell: markers there are plain text
        return text
    return "\n".join(_LINE_START.sub(_escape_marker, ln) for ln in text.split("\n"))


def _escape_marker(m: re.Match) -> str:
    marker = m.group(2)
    if marker[0].isdigit():  # "1." -> "1\." (a backslash before the digits escapes nothing)
        return m.group(1) + marker[:-1] + "\\" + marker[-1]
    return m.group(1) + "\\" + marker


def escape_latex(latex: str) -> str:
    """LaTeX for a ``$$`` block: ``<`` written as ``\\lt`` so no renderer sees a tag."""
    return re.sub(r"<\s*", r"\\lt ", latex)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _comment(text: str) -> str:
    return _one_line(text).replace("--", "- -").replace(">", "&gt;")


def _fence(body: str, lang: str = "") -> str:
    ticks = max([3] + [len(m.group(0)) + 1 for m in _BACKTICKS.finditer(body)])
    return f"{'`' * ticks}{lang}\n{body}\n{'`' * ticks}"


def _box(values: list[float] | None) -> str:
    return ",".join(f"{round(v):d}" for v in values) if values else ""


def table_markdown(block: Block) -> str:
    rows = block.attrs.get("rows") or []
    spans = any(c.get("rowspan", 1) > 1 or c.get("colspan", 1) > 1 for row in rows for c in row)
    if not rows or spans:
        return sanitize_fragment(block.html) if block.html else escape_text(block.text)
    width = max(len(r) for r in rows)

    def cell(c: dict) -> str:
        return escape_text(_one_line(c.get("text", "")), line_start=False).replace("|", "\\|")

    lines = []
    for i, row in enumerate(rows):
        cells = [cell(c) for c in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if i == 0:
            lines.append("|" + "|".join(" --- " for _ in range(width)) + "|")
    return "\n".join(lines)


def _placeholder(block: Block, page: int, caption: str | None = None) -> str:
    alt = block.attrs.get("caption") or caption or block.attrs.get("ocr_text") or block.text or block.type
    target = f"#page={page}" + (f"&bbox_px={_box(block.bbox_px)}" if block.bbox_px else "")
    return f"![{escape_text(_one_line(alt))}]({target})"


def block_markdown(block: Block, page: int, caption: str | None = None) -> str:
    """One block; ``caption`` is the text of the caption block that belongs to it, if any."""
    t, text = block.type, block.text
    if t == "heading":
        level = min(max(int(block.attrs.get("level") or 1), 1), 6)
        return "#" * level + " " + escape_text(_one_line(text), line_start=False)
    if t in ("table",):
        out = table_markdown(block)
        caption = block.attrs.get("caption")
        return (escape_text(caption) + "\n\n" + out) if caption else out
    if t == "chart":
        out = _placeholder(block, page, caption)
        return out + ("\n\n" + table_markdown(block) if block.attrs.get("rows") else "")
    if t == "figure":
        return _placeholder(block, page, caption)
    if t == "formula":
        latex = block.attrs.get("latex", text).strip()
        return f"$$\n{escape_latex(latex)}\n$$" if latex else ""
    if t == "code":
        return _fence(text, block.attrs.get("language") or "")
    if t == "music_sheet":
        return _fence(block.attrs.get("abc", text), "abc")
    if t == "chemical_formula":
        return _fence(block.attrs.get("smiles", text), "smiles")
    if t == "list":
        items = block.attrs.get("items") or [{"text": ln} for ln in text.split("\n") if ln.strip()]
        ordered = block.attrs.get("ordered")
        return "\n".join(f"{f'{i}.' if ordered else '-'} {escape_text(_one_line(it.get('text', '')), False)}"
                         for i, it in enumerate(items, 1))
    if t in ("header", "footer", "page_number"):
        return f"<!-- {t}: {_comment(text)} -->" if text.strip() else ""
    if t == "quote":
        return "\n".join("> " + ln for ln in escape_text(text).split("\n"))
    return escape_text(text)


def page_markdown(page: PageResult) -> str:
    head = f"<!-- page {int(page.info.page)}"
    if page.status != OK:
        head += f": {page.status}"
        if page.error:
            head += f": {_comment(page.error)}"
    parts = [head + " -->"]
    i = 0
    blocks = page.blocks
    captions = {b.attrs["of"]: b.text for b in blocks if b.type == "caption" and isinstance(b.attrs.get("of"), int)}
    while i < len(blocks):
        b = blocks[i]
        if b.type == "list_item":  # a run of list items is one list
            run = []
            while i < len(blocks) and blocks[i].type == "list_item":
                run.append(blocks[i])
                i += 1
            parts.append("\n".join(
                f"{str(it.attrs.get('index') or n) + '.' if it.attrs.get('ordered') else '-'} "
                f"{escape_text(_one_line(it.text), False)}" for n, it in enumerate(run, 1)))
            continue
        md = block_markdown(b, int(page.info.page), captions.get(i))
        if md:
            parts.append(md)
        i += 1
    return "\n\n".join(parts)


def render_markdown(doc: Document) -> str:
    """The whole document as Markdown, pages in order."""
    pages = [page_markdown(p) for p in doc.pages]
    if doc.error:  # the input could not be read: say why rather than write an empty file
        pages.append(f"<!-- failed: {_comment(doc.error)} -->")
    return "\n\n---\n\n".join(pages) + "\n"
