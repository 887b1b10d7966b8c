"""One clean, self-contained HTML document for a parsed document.

Pages are ``<section class="page" data-page="N">``; every block is a ``<div class="block">``
with ``data-type``, ``data-bbox`` (original page pixels, ``x1 y1 x2 y2``) and, for PDFs,
``data-bbox-pt`` (PDF points, top-left origin), wrapping the block's sanitised HTML. Nothing is
remote: one small inline stylesheet, no scripts (formulas are MathML converted from their LaTeX, which
browsers render natively; the LaTeX stays in the formula's ``annotation``), and a Content-Security-Policy that forbids
loading anything even if a fragment slipped through. Fragments are sanitised again here, so a
hand-edited JSON result cannot smuggle markup in either.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from vlparse.core.results import OK, Block, Document, PageResult
from vlparse.parse.sanitize import sanitize_fragment

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

STYLE = """
:root { color-scheme: light dark; --muted: #667; --line: #ccd; --warn: #b35900; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; }
.doc-meta { color: var(--muted); font-size: .85rem; }
section.page { border-top: 1px solid var(--line); margin-top: 2rem; padding-top: .5rem; }
.page-label { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; }
.page-label .status { color: var(--warn); }
details.warnings { color: var(--warn); font-size: .85rem; margin: .25rem 0 1rem; }
.block { margin: .5rem 0; }
table { border-collapse: collapse; margin: .5rem 0; }
td, th { border: 1px solid var(--line); padding: .2rem .5rem; vertical-align: top; }
pre, .block[data-type="music_sheet"], .block[data-type="chemical_formula"] { white-space: pre-wrap;
       font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .9rem; }
.block[data-type="formula"] { font-family: ui-monospace, Menlo, monospace; text-align: center; }
.block[data-type="formula"] math { font-size: 1.15em; }
.block[data-type="figure"], .block[data-type="chart"] { border: 1px dashed var(--line); padding: .5rem;
       color: var(--muted); min-height: 2rem; }
.block[data-type="caption"] { font-size: .9rem; color: var(--muted); }
.block[data-type="header"], .block[data-type="footer"], .block[data-type="page_number"] { font-size: .8rem;
       color: var(--muted); }
.placeholder { font-style: italic; }
img { display: none; }
""".strip()


def _box(values: list[float] | None) -> str:
    return " ".join(f"{v:g}" for v in values) if values else ""


def _fallback(block: Block) -> str:
    """Markup for a block that has no HTML fragment (e.g. results read back from JSON)."""
    text = escape(block.text)
    if block.type == "heading":
        level = min(max(int(block.attrs.get("level") or 1), 1), 6)
        return f"<h{level}>{text}</h{level}>"
    if block.type in ("code", "music_sheet", "chemical_formula"):
        return f"<pre>{text}</pre>"
    return f"<p>{text}</p>" if text else ""


def _formula(block: Block) -> str | None:
    """A formula block as MathML (LaTeX kept in its annotation), or None to show it as before."""
    if block.type != "formula" or not block.attrs.get("latex"):
        return None
    from vlparse.export.mathml import formula_mathml

    mathml = formula_mathml(str(block.attrs["latex"]))
    return f'<div class="formula">{mathml}</div>' if mathml else None


def render_block(block: Block) -> str:
    inner = _formula(block) or (sanitize_fragment(block.html) if block.html else _fallback(block))
    if block.type in ("figure", "chart") and not block.text and not block.attrs.get("rows"):
        where = f" at {_box(block.bbox_px)}" if block.bbox_px else ""
        inner += f'<span class="placeholder">[{escape(block.type)}{escape(where)}]</span>'
    attrs = ['class="block"', f'data-type="{escape(block.type)}"']
    if block.bbox_px:
        attrs.append(f'data-bbox="{_box(block.bbox_px)}"')
    if block.bbox_pt:
        attrs.append(f'data-bbox-pt="{_box(block.bbox_pt)}"')
    if block.type == "heading" and block.attrs.get("level"):
        attrs.append(f'data-level="{int(block.attrs["level"])}"')
    if block.attrs.get("incomplete"):
        attrs.append('data-incomplete="true"')
    if not block.bbox_px and block.attrs.get("no_box"):  # the answer format gives this block no coordinates
        attrs.append(f'data-no-box="{escape(str(block.attrs["no_box"]))}"')
    return f"<div {' '.join(attrs)}>{inner}</div>"


def render_page(page: PageResult) -> str:
    info = page.info
    attrs = ['class="page"', f'data-page="{int(info.page)}"', f'data-status="{escape(page.status)}"',
             f'data-width-px="{int(info.width_px)}"', f'data-height-px="{int(info.height_px)}"']
    if info.width_pt and info.height_pt:
        attrs.append(f'data-width-pt="{info.width_pt:g}" data-height-pt="{info.height_pt:g}"')
    label = f"Page {int(info.page)}"
    if page.status != OK:
        label += f' · <span class="status">{escape(page.status)}</span>'
    out = [f"<section {' '.join(attrs)}>", f'<div class="page-label">{label}</div>']
    notes = ([page.error] if page.error and page.error not in page.warnings else []) + list(page.warnings)
    if notes:
        items = "".join(f"<li>{escape(w)}</li>" for w in notes)
        out.append(f'<details class="warnings"><summary>{len(notes)} warning(s)</summary><ul>{items}</ul></details>')
    out += [render_block(b) for b in page.blocks]
    out.append("</section>")
    return "\n".join(out)


def render_html(doc: Document) -> str:
    """The whole document as one HTML page (UTF-8, no external resources)."""
    title = escape(Path(doc.source).name or doc.source or "document")
    meta = " · ".join(escape(x) for x in (doc.source, doc.family, doc.model) if x)
    head = (f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="vlparse">\n<title>{title}</title>\n<style>\n{STYLE}\n</style>\n'
            f"</head>\n<body>\n")
    body = [f'<p class="doc-meta">{meta}</p>'] + [render_page(p) for p in doc.pages]
    if doc.error:  # the input could not be read: say why rather than show an empty page
        body.append(f'<p class="doc-error" data-status="failed">{escape(doc.error)}</p>')
    return head + "\n".join(body) + "\n</body>\n</html>\n"
