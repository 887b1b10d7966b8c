"""The block types of a parsed page, and how QwenVL HTML elements map onto them.

This is the one place that knows the vocabulary of "QwenVL HTML" (the document-parsing
format of Qwen2.5-VL and Qwen3-VL). Every parser, exporter and overlay asks this module.

What the models write (checked against the sources, not guessed)
-----------------------------------------------------------------
Sources: the Qwen2.5-VL technical report, section 2.2.1 "QwenVL HTML Format" (a template of
every element); the recorded answer in QwenLM/Qwen2.5-VL ``cookbooks/document_parsing.ipynb``
(Qwen2.5-VL-72B, a 1008x1540 model image, absolute pixel boxes); the same notebook's
``clean_and_format_html`` helper (the class names it rewrites); and the Qwen3-VL
``cookbooks/document_parsing.ipynb`` helper ``draw_bbox_html`` (Qwen3-VL boxes are 0..1000 of
the image; prompt ``qwenvl html`` as the only user text, no system prompt).

- The answer is one document ``<html><body> ... </body></html>``, usually inside a ```html
  fence. Blocks are the body's children in reading order; each carries
  ``data-bbox="x1 y1 x2 y2"`` (space separated, integers, the family's coordinate space).
- Text: ``<h1>``..``<h6>`` and ``<p>``; lists ``<ul>``/``<ol>`` with ``<li>`` (the cookbook's
  drawing helper skips a boxed ``<ol>`` and draws its ``<li>`` boxes, so items may carry boxes).
- Tables: ``<table data-bbox=… class="table{id}">`` with ordinary ``tr``/``th``/``td`` (spans as
  ``rowspan``/``colspan``), sometimes preceded by ``<style>table{id} …</style>`` (dropped).
- ``<div class="chart" data-bbox><img data-bbox/><table>chart data</table></div>``
- ``<div class="formula" data-bbox><img data-bbox/><div>LaTeX</div></div>``; the cookbook also
  normalises the classes ``formula.machine_printed`` and ``formula.handwritten`` to ``formula``.
- ``<div class="image" data-bbox><img data-bbox/></div>`` (the recorded answer: the inner
  ``<img>`` repeats the div's box and has no ``src``); ``<div class="image caption">`` holds
  ``<img/><p>a description</p>``; ``<div class="image ocr">`` holds ``<img/><p>text in it</p>``.
- ``<div class="music sheet" format="abc notation" data-bbox><img/><div>ABC</div></div>``
- ``<div class="chemical formula" format="smile" data-bbox><img/><div>SMILES</div></div>``
- Some answers carry ``data-polygon`` and ``style="color:…"`` (the cookbook strips both).
- Figure captions are plain ``<p>`` blocks after the figure ("Figure 1: …" in the recorded
  answer); vlparse types such a paragraph ``caption`` when it directly follows a figure, chart or
  table and starts like a caption (``CAPTION_START``).
- Headers, footers, page numbers, footnotes, code and quotes have no class in the published
  template; vlparse maps the obvious HTML elements (``header``, ``footer``, ``pre``/``code``,
  ``blockquote``, ``figcaption``) and the class names other QwenVL-HTML producers use
  (``header``, ``footer``, ``page-number``, ``footnote``, ``caption``, ``code``).

Element -> block type (``classify``)
-----------------------------------
==========================================  ================  ==================================
element / class                             type              attrs
==========================================  ================  ==================================
``h1``..``h6``                              heading           level (1-6)
``p``, ``div`` with text, ``span``          paragraph
``p`` after a figure/table, "Figure 3 …"    caption
``ul`` / ``ol`` (boxed)                     list              ordered, items [{text, bbox_px…}]
``li`` (boxed, list unboxed)                list_item         ordered, index
``table``                                   table             rows [[{text, rowspan, colspan,
                                                              header}]], n_rows, n_cols, caption
``div.chart``                               chart             rows (the chart's data table)
``div.formula`` (+ machine_printed/         formula           latex, handwritten
handwritten)
``div.image``, ``img``, ``figure``          figure            caption, ocr_text
``div.image.caption`` / ``div.image.ocr``   figure            caption / ocr_text
``div.music.sheet``                         music_sheet       abc
``div.chemical.formula``                    chemical_formula  smiles
``pre``, ``code``, ``.code``                code              language
``header``, ``.header``, ``.page-header``   header
``footer``, ``.footer``, ``.page-footer``   footer
``.page-number``, ``.page_number``          page_number
``.footnote``, ``aside``                    footnote
``blockquote``, ``.quote``                  quote
``figcaption``, ``.caption``                caption
anything else with a box                    other             tag
==========================================  ================  ==================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

@dataclass(frozen=True)
class TypeSpec:
    """How one block type is read and what it carries: the one place a block type is declared.

    ``reader`` names the function in :mod:`vlparse.parse.html` (``READERS``) that fills the type's
    ``attrs`` from the element (and may rewrite its text, e.g. a table's rows); types without one are
    plain text blocks.
    """

    attrs: tuple[str, ...] = ()  # the ``attrs`` keys it may carry (every type may also carry lines, warnings)
    reader: str | None = None
    verbatim: bool = False  # keeps the answer's line breaks and spacing (code, ABC, SMILES, LaTeX)
    may_be_empty: bool = False  # kept without text (an image, a chart drawn without data)
    region: bool = False  # a page region: unboxed, it passes its type on to its boxed children


#: every block ``type`` vlparse writes, in this order (the team's agreed names; add, never rename)
TYPES: dict[str, TypeSpec] = {
    "heading": TypeSpec(("level",), reader="heading"),
    "paragraph": TypeSpec(),
    "list": TypeSpec(("ordered", "items"), reader="list"),
    "list_item": TypeSpec(("ordered", "index")),
    "table": TypeSpec(("rows", "n_rows", "n_cols", "caption"), reader="table", may_be_empty=True),
    "figure": TypeSpec(("caption", "ocr_text"), reader="figure", may_be_empty=True),
    "caption": TypeSpec(),
    "chart": TypeSpec(("rows", "n_rows", "n_cols"), reader="chart", may_be_empty=True),
    "formula": TypeSpec(("latex", "handwritten"), reader="formula", verbatim=True, may_be_empty=True),
    "chemical_formula": TypeSpec(("smiles",), reader="chemical_formula", verbatim=True, may_be_empty=True),
    "music_sheet": TypeSpec(("abc",), reader="music_sheet", verbatim=True, may_be_empty=True),
    "code": TypeSpec(("language",), reader="code", verbatim=True, may_be_empty=True),
    "header": TypeSpec(region=True),
    "footer": TypeSpec(region=True),
    "page_number": TypeSpec(region=True),
    "footnote": TypeSpec(region=True),
    "quote": TypeSpec(region=True),
    "other": TypeSpec(("tag",), reader="other"),
}

BLOCK_TYPES: tuple[str, ...] = tuple(TYPES)

#: the ``attrs`` keys each type may carry (every type may also carry ``lines``, ``warnings``)
TYPE_ATTRS: dict[str, tuple[str, ...]] = {t: spec.attrs for t, spec in TYPES.items() if spec.attrs}

HEADINGS = {f"h{i}": i for i in range(1, 7)}

#: block-level ``class`` values (the whole class string, lower-cased, split on spaces and dots)
#: -> type. Longer (more specific) entries are tried first.
CLASS_TYPES: dict[tuple[str, ...], str] = {
    ("chemical", "formula"): "chemical_formula",
    ("music", "sheet"): "music_sheet",
    ("image", "caption"): "figure",
    ("image", "ocr"): "figure",
    ("formula", "machine_printed"): "formula",
    ("formula", "handwritten"): "formula",
    ("chart",): "chart",
    ("formula",): "formula",
    ("equation",): "formula",
    ("image",): "figure",
    ("figure",): "figure",
    ("table",): "table",
    ("code",): "code",
    ("header",): "header",
    ("page-header",): "header",
    ("page_header",): "header",
    ("footer",): "footer",
    ("page-footer",): "footer",
    ("page_footer",): "footer",
    ("page-number",): "page_number",
    ("page_number",): "page_number",
    ("pagenumber",): "page_number",
    ("footnote",): "footnote",
    ("caption",): "caption",
    ("quote",): "quote",
}

#: element name -> type, for elements whose class says nothing
TAG_TYPES: dict[str, str] = {
    **{h: "heading" for h in HEADINGS},
    "p": "paragraph",
    "ul": "list",
    "ol": "list",
    "li": "list_item",
    "table": "table",
    "img": "figure",
    "figure": "figure",
    "pre": "code",
    "code": "code",
    "blockquote": "quote",
    "header": "header",
    "footer": "footer",
    "figcaption": "caption",
    "caption": "caption",
    "aside": "footnote",
    "div": "paragraph",
    "span": "paragraph",
    "section": "paragraph",
    "article": "paragraph",
    "address": "paragraph",
}

#: containers that only group blocks: their children are blocks, they are not one
CONTAINERS = frozenset({"html", "body", "main", "section", "article", "div", "span", "nav", "form"})

#: elements never exported (their content is not page text)
DROPPED = frozenset({"head", "title", "style", "script", "meta", "link", "template", "noscript", "iframe",
                     "object", "embed", "frame", "frameset", "svg", "math", "base"})

#: a paragraph right after a figure/table/chart that starts like this is its caption
CAPTION_START = re.compile(r"^\s*(fig(ure)?|table|tab|chart|graph|plate|scheme|图|表)\s*\.?\s*[0-9IVXivx]+",
                           re.IGNORECASE)

#: the ``format`` attribute values the template uses (informative: the class decides the type)
FORMATS = {"music_sheet": "abc notation", "chemical_formula": "smile"}


def class_tokens(value: str | None) -> tuple[str, ...]:
    """``"formula.machine_printed"`` -> ``("formula", "machine_printed")``; ``"music sheet"`` -> 2 tokens."""
    if not value:
        return ()
    return tuple(t for t in re.split(r"[\s.]+", value.strip().lower()) if t)


def type_from_class(value: str | None) -> str | None:
    """The block type a ``class`` attribute names, or None."""
    tokens = set(class_tokens(value))
    if not tokens:
        return None
    for key in sorted(CLASS_TYPES, key=len, reverse=True):
        if set(key) <= tokens:
            return CLASS_TYPES[key]
    if any(t.startswith("table") for t in tokens):  # class="table3"
        return "table"
    return None


def classify(tag: str, class_value: str | None) -> str:
    """Block type of one element with its ``class`` (the class wins over the element name)."""
    tag = tag.lower() if isinstance(tag, str) else ""
    by_class = type_from_class(class_value)
    if by_class is not None and not (tag in HEADINGS or tag in ("ul", "ol", "li")):
        return by_class
    return TAG_TYPES.get(tag, "other")


def heading_level(tag: str) -> int | None:
    return HEADINGS.get(tag.lower()) if isinstance(tag, str) else None
