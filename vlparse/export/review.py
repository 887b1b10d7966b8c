"""The review page: one self-contained HTML file to check a parsed document at a glance.

For every page: the page image with each block drawn as a box in its type's colour (hover or
keyboard focus shows the type and text; activating a box jumps to the block), beside the parsed
content (the block's sanitised HTML, each entry linking back to its box), with the page status,
the error of a failed page and the warnings. A legend lists the block types in use.

Self-contained and inert: page images are inlined as ``data:`` URLs (WebP, PNG where Pillow has
no WebP), one inline stylesheet, no script at all (CSS does hover, focus and jumps), and a
Content-Security-Policy that forbids scripts and every remote resource. Model HTML is sanitised
again here (:func:`vlparse.parse.sanitize.sanitize_fragment`); everything else is escaped.

Box positions are percentages of the page image (``bbox_px`` / page size), so the boxes stay on
their blocks at any zoom level or window width.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from html import escape
from pathlib import PurePath

from vlparse import __version__
from vlparse.core.results import FAILED, OK, Block, Document, PageResult
from vlparse.export.overlays import colour_for
from vlparse.parse.sanitize import sanitize_fragment

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
TIP_CHARS = 280  # text shown in a box's tooltip
WEBP_QUALITY = 82

STYLE = """
:root { color-scheme: light; --ink: #1d1f24; --muted: #5d6470; --line: #d5d9e0; --bg: #f6f7f9;
        --ok: #1b7f3b; --warn: #a35200; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       background: var(--bg); }
a { color: inherit; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
.skip:focus { left: .5rem; z-index: 100; }
header.doc { padding: 1rem 1.5rem .5rem; background: #fff; border-bottom: 1px solid var(--line); }
header.doc h1 { margin: 0 0 .25rem; font-size: 1.3rem; word-break: break-all; }
.meta { margin: 0 0 .5rem; color: var(--muted); }
nav.pages ol, .legend ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .35rem .9rem; }
nav.pages a { text-decoration: none; }
.legend { margin: .5rem 0; }
.legend h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
             margin: 0 0 .2rem; }
.legend li { display: flex; align-items: center; gap: .35rem; }
.swatch { display: inline-block; width: .95rem; height: .95rem; border: 2px solid rgb(var(--c));
          background: rgb(var(--c) / .18); border-radius: 2px; }
.count { color: var(--muted); font-size: .85rem; }
.hint { color: var(--muted); font-size: .85rem; margin: .25rem 0 0; }
.status { display: inline-block; font-size: .75rem; font-weight: 600; padding: .05rem .45rem; border-radius: 1rem;
          color: #fff; background: var(--ok); vertical-align: middle; }
.status.repaired, .status.truncated, .status.repetition, .status.suspect { background: var(--warn); }
.status.failed { background: var(--bad); }
main { padding: 0 1.5rem 3rem; }
section.page { margin-top: 1.5rem; }
section.page > h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
.error { color: var(--bad); font-weight: 600; margin: .25rem 0; }
details.warnings { color: var(--warn); margin: .25rem 0 .75rem; }
details.warnings ul { margin: .25rem 0; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.5rem; align-items: start; }
@media (max-width: 900px) { .pair { grid-template-columns: minmax(0, 1fr); } }
figure.sheet { margin: 0; }
.canvas { position: relative; width: 100%; background: #fff; box-shadow: 0 1px 4px rgb(0 0 0 / .18); }
.canvas > img { display: block; width: 100%; height: auto; }
.noimage { padding: 3rem 1rem; text-align: center; color: var(--muted); background: #fff;
           border: 1px dashed var(--line); }
figcaption { color: var(--muted); font-size: .8rem; margin-top: .3rem; }
.box { position: absolute; display: block; border: 2px solid rgb(var(--c)); background: rgb(var(--c) / .10);
       text-decoration: none; }
.box:hover, .box:focus-visible, .box:target { background: rgb(var(--c) / .25); z-index: 5; }
.box:focus-visible, .box:target { outline: 3px solid #111; outline-offset: 1px; }
.tip { display: none; position: absolute; left: 0; top: 100%; margin-top: 3px; width: max-content;
       max-width: min(28rem, 80vw); padding: .35rem .5rem; background: #111; color: #fff; font-size: .8rem;
       line-height: 1.35; border-radius: 4px; border-left: 5px solid rgb(var(--c)); white-space: pre-wrap;
       pointer-events: none; }
.tip b { display: block; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; font-size: .7rem; }
.box:hover .tip, .box:focus .tip { display: block; z-index: 6; }
ol.blocks { list-style: none; margin: 0; padding: 0; }
.block { background: #fff; border-left: 5px solid rgb(var(--c)); margin: 0 0 .5rem; padding: .4rem .75rem;
         scroll-margin-top: 1rem; }
.block:target { outline: 3px solid rgb(var(--c)); }
.tag { display: inline-block; font-size: .7rem; font-weight: 600; text-transform: uppercase; letter-spacing: .05em;
       color: rgb(var(--c)); text-decoration: none; }
.tag:hover, .tag:focus-visible { text-decoration: underline; }
.nobox { font-size: .7rem; color: var(--muted); }
.box.v-unverifiable { border-style: dashed; }
.agree { font-size: .7rem; font-weight: 600; margin-left: .4rem; color: rgb(var(--a)); }
.content { overflow-x: auto; }
.content > :first-child { margin-top: .15rem; }
.content > :last-child { margin-bottom: .15rem; }
.content img { display: none; }
.content table { border-collapse: collapse; }
.content td, .content th { border: 1px solid var(--line); padding: .15rem .4rem; vertical-align: top; }
.content pre { white-space: pre-wrap; font-size: .85rem; }
.content math { font-size: 1.2em; }
""".strip()


def _rgb(block_type: str) -> str:
    r, g, b = colour_for(block_type)
    return f"{r} {g} {b}"


def _pct(v: float, total: int) -> str:
    return f"{min(max(v / total * 100.0, 0.0), 100.0):.4f}%"


def encode_image(image) -> str:
    """A ``data:`` URL of a PIL image (WebP when Pillow can write it, else PNG)."""
    from PIL import features

    buf = io.BytesIO()
    image = image.convert("RGB")
    if features.check("webp"):
        image.save(buf, format="WEBP", quality=WEBP_QUALITY, method=4)
        mime = "image/webp"
    else:
        image.save(buf, format="PNG")
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _short(text: str, limit: int = TIP_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _content(block: Block) -> str:
    """The block as HTML: its sanitised fragment, or its escaped text when it has none."""
    if not block.text.strip() and block.type in ("figure", "chart"):
        return '<p class="nobox">(picture, no text)</p>'
    if block.type == "formula" and block.attrs.get("latex"):
        from vlparse.export.mathml import formula_mathml

        mathml = formula_mathml(str(block.attrs["latex"]))
        if mathml:
            return f'<div class="formula">{mathml}</div>'
    if block.html.strip():
        clean = sanitize_fragment(block.html)
        if clean.strip():
            return clean
    text = escape(block.text)
    if not text:
        return '<p class="nobox">(no text)</p>'
    if block.type in ("code", "music_sheet", "chemical_formula", "formula", "table"):
        return f"<pre>{text}</pre>"
    return f"<p>{text}</p>"


#: box colours when the page was verified against its text layer (vlparse.parse.verify): the agreement decides
AGREEMENT_RGB = {"verified": "22 140 60", "low": "200 30 30", "unverifiable": "120 120 120"}


def _agreement(block: Block) -> tuple[str, str] | None:
    """(status, label) of the block's verification, or None when the page was not verified."""
    v = block.verify
    if not v or v.get("status") not in AGREEMENT_RGB:
        return None
    if v["status"] == "unverifiable":
        return v["status"], f"unverifiable ({v.get('reason', '')})"
    return v["status"], f"{v['status']}: text agrees {v.get('text', 0):.0%} with the PDF's text layer"


def _box(block: Block, n: int, k: int, width: int, height: int) -> str:
    x0, y0, x1, y1 = block.bbox_px
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    agree = _agreement(block)
    colour = AGREEMENT_RGB[agree[0]] if agree else _rgb(block.type)  # verified pages: coloured by agreement
    style = (f"left:{_pct(x0, width)};top:{_pct(y0, height)};width:{_pct(x1 - x0, width)};"
             f"height:{_pct(y1 - y0, height)};--c:{colour}")
    text = _short(block.text) or "(no text)"
    label = f"{block.type} {k}: {text}" + (f" ({agree[1]})" if agree else "")
    cls = f"box v-{agree[0]}" if agree else "box"
    extra = f' data-verify="{agree[0]}"' if agree else ""
    tip = escape(text) + (f"\n{escape(agree[1])}" if agree else "")
    return (f'<a class="{cls}" id="p{n}-box{k}" href="#p{n}-b{k}" style="{style}" data-type="{escape(block.type)}" '
            f'data-bbox="{x0:g} {y0:g} {x1:g} {y1:g}"{extra} aria-label="{escape(label)}">'
            f'<span class="tip" aria-hidden="true"><b>{escape(block.type)} {k}</b>{tip}</span></a>')


def _entry(block: Block, n: int, k: int) -> str:
    label = f"{escape(block.type)} {k}"
    link = (f'<a class="tag" href="#p{n}-box{k}" title="show on the page">{label}</a>' if _has_box(block)
            else f'<span class="tag">{label}</span> <span class="nobox">no box'
                 + (f" ({escape(str(block.attrs['no_box']))})" if block.attrs.get("no_box") else "") + "</span>")
    agree = _agreement(block)
    if agree:
        link += f'<span class="agree" style="--a:{AGREEMENT_RGB[agree[0]]}">{escape(agree[1])}</span>'
    return (f'<li class="block" id="p{n}-b{k}" data-type="{escape(block.type)}" style="--c:{_rgb(block.type)}">'
            f'{link}<div class="content">{_content(block)}</div></li>')


def _has_box(block: Block) -> bool:
    b = block.bbox_px
    return bool(b) and len(b) == 4 and abs(b[2] - b[0]) > 0 and abs(b[3] - b[1]) > 0


def _page(page: PageResult, image, name: str) -> str:
    info = page.info
    n, w, h = info.page, info.width_px, info.height_px
    status = escape(page.status)
    out = [f'<section class="page" id="page-{n}" aria-labelledby="page-{n}-title" data-status="{status}">',
           f'<h2 id="page-{n}-title">Page {n} <span class="status {status}">{status}</span></h2>']
    if page.error:
        out.append(f'<p class="error">{escape(page.error)}</p>')
    if page.warnings:
        items = "".join(f"<li>{escape(wn)}</li>" for wn in page.warnings)
        count = len(page.warnings)
        out.append(f'<details class="warnings" open><summary>{count} warning{"s" if count != 1 else ""}</summary>'
                   f"<ul>{items}</ul></details>")
    out.append('<div class="pair"><figure class="sheet">')
    if image is not None and w and h:
        boxes = "".join(_box(b, n, k, w, h) for k, b in enumerate(page.blocks, 1) if _has_box(b))
        out.append(f'<div class="canvas" style="aspect-ratio:{w}/{h}"><img src="{encode_image(image)}" width="{w}" '
                   f'height="{h}" alt="page {n} of {escape(name)}">{boxes}</div>')
    else:
        out.append('<div class="noimage">no page image</div>')
    out.append(f"<figcaption>{w} × {h} px · {len(page.blocks)} block{'s' if len(page.blocks) != 1 else ''}"
               "</figcaption></figure>")
    entries = "".join(_entry(b, n, k) for k, b in enumerate(page.blocks, 1))
    out.append(f'<ol class="blocks" aria-label="parsed content of page {n}">{entries}</ol></div></section>')
    return "\n".join(out)


def _header(doc: Document, name: str, legend_title: str = "Block types") -> str:
    pages = doc.pages
    failed = sum(p.status == FAILED for p in pages)
    flagged = sum(p.status not in (OK, FAILED) or bool(p.warnings) for p in pages)
    facts = [doc.family, doc.model, f"{len(pages)} page{'s' if len(pages) != 1 else ''}"]
    if flagged:
        facts.append(f"{flagged} with warnings")
    if failed:
        facts.append(f"{failed} failed")
    nav = "".join(f'<li><a href="#page-{p.info.page}">page {p.info.page}</a> '
                  f'<span class="status {escape(p.status)}">{escape(p.status)}</span></li>' for p in pages)
    counts = Counter(b.type for p in pages for b in p.blocks)
    legend = "".join(f'<li><span class="swatch" style="--c:{_rgb(t)}" aria-hidden="true"></span>{escape(t)} '
                     f'<span class="count">{c}</span></li>' for t, c in counts.items())
    return (f'<header class="doc"><h1>{escape(name)}</h1>'
            f'<p class="meta">{" · ".join(escape(f) for f in facts if f)}</p>'
            f'<nav class="pages" aria-label="pages"><ol>{nav}</ol></nav>'
            f'<section class="legend" aria-labelledby="legend-title"><h2 id="legend-title">{escape(legend_title)}</h2>'
            f'<ul>{legend}</ul>{_agreement_legend(pages)}<p class="hint">Hover or focus (Tab) a box to read its type and '
            "text; activate it to jump to the parsed block, and a block's label to jump back.</p></section></header>")


def _agreement_legend(pages) -> str:
    """On verified documents, the box colours mean agreement with the text layer: say so."""
    counts = Counter(a[0] for p in pages for b in p.blocks if (a := _agreement(b)))
    if not counts:
        return ""
    items = "".join(f'<li><span class="swatch" style="--c:{AGREEMENT_RGB[s]}" aria-hidden="true"></span>{s} '
                    f'<span class="count">{counts[s]}</span></li>' for s in AGREEMENT_RGB if counts[s])
    return ('<h2>Box colour: agreement with the PDF\'s text layer</h2>'
            f'<ul class="agreement">{items}</ul>')


def render_review(doc: Document, images, legend: str = "Block types") -> str:
    """The review page of ``doc``; ``images[i]`` is page i's image in its ``bbox_px`` space (or None).

    ``legend``: the title of the key of block types (``vlparse extract`` shows field names as the types)."""
    buf = io.StringIO()
    write_review(buf.write, doc, images, legend)
    return buf.getvalue()


def write_review(write, doc: Document, images, legend: str = "Block types") -> None:
    """:func:`render_review` piece by piece through ``write(str)``: ``images`` may be an iterator, and only
    one page's image is held at a time (a long document's review page never sits in memory whole)."""
    name = PurePath(doc.source).name
    first = f"#page-{doc.pages[0].info.page}" if doc.pages else "#main"
    write("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
          '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
          f'<meta name="generator" content="vlparse {__version__}">\n'
          f"<title>Review: {escape(name)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
          f'<a class="skip" href="{first}">Skip to the pages</a>\n{_header(doc, name, legend)}\n'
          f'<main id="main">\n')
    it = iter(images)
    for i, p in enumerate(doc.pages):
        img = next(it, None)
        write(("\n" if i else "") + _page(p, img, name))
        del img
    write("\n</main>\n</body>\n</html>\n")
