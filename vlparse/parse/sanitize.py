"""Sanitising HTML that came from a model, with nh3 (the Ammonia sanitiser).

Model output is untrusted: a prompt-injected page, or a model imitating web pages, can write
``<script>``, event handlers, ``javascript:`` links or remote images. Everything vlparse exports
that came from an answer goes through :func:`sanitize_fragment`, which keeps the document
structure (headings, paragraphs, lists, tables with ``rowspan``/``colspan``, inline emphasis,
``class`` and ``data-bbox``) and removes the rest:

- no scripting: ``<script>``, ``<style>``, ``<iframe>``, ``<object>``, ``<embed>``, ``<svg>``,
  ``<template>``, ``<noscript>`` (with their content), forms, event-handler and ``style``
  attributes, comments;
- MathML (formulas the HTML export converts from LaTeX, or a model's own) through an explicit
  allowlist: the presentation elements of MathML Core, ``semantics`` and ``annotation`` (only
  ``encoding="application/x-tex"``, text only); never ``annotation-xml`` (it can carry HTML: dropped
  with its content), ``maction`` (interactive: its content kept), ``mglyph`` (an image source),
  ``href``/``xlink:href``, ``style``, ``mathcolor``/``mathbackground`` or event attributes, and only
  plain values (lengths, numbers, known keywords) in the attributes kept;
- no resources: ``<img>`` keeps no ``src``/``srcset`` (model answers never carry real image
  data; a remote ``src`` would fetch it), ``<a>`` keeps its text but no ``href``: no
  ``javascript:``, ``data:``, ``http:`` or relative URL survives anywhere (nh3 is also told to
  deny every URL scheme and every relative URL, as a second line of defence).
"""

from __future__ import annotations

import re

import nh3

#: structural tags kept (nh3's safe defaults, minus image maps, plus table footers)
TAGS: frozenset[str] = frozenset((nh3.ALLOWED_TAGS - {"map", "area"}) | {"tfoot"})

#: MathML Core presentation elements kept (with ``semantics``/``annotation`` for the LaTeX source)
MATHML_TAGS: frozenset[str] = frozenset({
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "mtext", "ms", "mspace", "msub", "msup",
    "msubsup", "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none", "mfrac", "msqrt",
    "mroot", "mstyle", "merror", "mpadded", "mphantom", "mtable", "mtr", "mtd", "menclose",
})

#: removed together with everything inside them
CONTENT_DROPPED: frozenset[str] = frozenset({
    "script", "style", "iframe", "object", "embed", "noscript", "template", "title", "head", "svg",
    "textarea", "select", "applet", "frame", "frameset", "noembed", "noframes", "xmp", "annotation-xml",
})

_GENERIC = {"class", "data-bbox", "data-bbox-pt", "data-type", "data-page", "data-polygon", "title", "lang",
            "dir", "format"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": _GENERIC,
    "td": {"rowspan", "colspan", "headers", "align"},
    "th": {"rowspan", "colspan", "headers", "scope", "align"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "li": {"value"},
    "img": {"alt", "width", "height"},
    "time": {"datetime"},
    "data": {"value"},
    # MathML: presentation attributes only (values checked in _mathml_filter)
    "math": {"display"},
    "annotation": {"encoding"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace", "minsize", "maxsize", "largeop",
           "movablelimits", "symmetric", "form", "accent"},
    "mfrac": {"linethickness"},
    "mover": {"accent"},
    "munder": {"accentunder"},
    "munderover": {"accent", "accentunder"},
    "mspace": {"width", "height", "depth"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mtable": {"columnalign", "rowalign", "columnlines", "rowlines", "frame", "columnspacing", "rowspacing"},
    "mtr": {"columnalign", "rowalign"},
    "mtd": {"columnalign", "rowalign", "columnspan", "rowspan"},
    "menclose": {"notation"},
}
for _tag in MATHML_TAGS - {"annotation", "semantics"}:
    ATTRIBUTES.setdefault(_tag, set()).update({"mathvariant", "displaystyle", "scriptlevel", "mathsize"})

_NUMBERS = re.compile(r"^[\s\d.,\-+eE\[\]()]*$")
_CLASS = re.compile(r"^[\w .:-]*$")
_INTEGER = re.compile(r"^\s*\d{1,4}\s*$")


_LENGTH = re.compile(r"^\s*-?\d*\.?\d+\s*(em|ex|px|pt|mm|cm|in|%|mu)?\s*$|^\s*(thin|medium|thick|0)\s*$")
_KEYWORDS = re.compile(r"^[a-z\s-]{0,60}$")
_BOOLEAN = {"true", "false"}
TEX = "application/x-tex"


def _mathml_filter(attr: str, value: str) -> str | None:
    v = value.strip()
    if attr == "encoding":
        return TEX if v.lower() == TEX else None
    if attr == "display":
        return v if v in ("block", "inline") else None
    if attr in ("stretchy", "fence", "separator", "largeop", "movablelimits", "symmetric", "accent",
                "accentunder", "displaystyle"):
        return v if v in _BOOLEAN else None
    if attr in ("width", "height", "depth", "lspace", "rspace", "voffset", "minsize", "maxsize", "linethickness",
                "mathsize"):
        return v if _LENGTH.match(v) else None
    if attr in ("scriptlevel", "columnspan", "rowspan"):
        return v if re.fullmatch(r"[+-]?\d{1,3}", v) else None
    return v if _KEYWORDS.match(v) else None  # mathvariant, form, notation, alignments, lines, frame


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag in MATHML_TAGS and attr not in _GENERIC:
        return _mathml_filter(attr, value)
    if attr in ("data-bbox", "data-bbox-pt", "data-polygon"):
        return value if _NUMBERS.match(value) else None
    if attr == "class":
        return value if _CLASS.match(value) else None
    if attr in ("rowspan", "colspan", "span", "start", "value", "width", "height"):
        return value.strip() if _INTEGER.match(value) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(TAGS | MATHML_TAGS),
    clean_content_tags=set(CONTENT_DROPPED),
    attributes={k: set(v) for k, v in ATTRIBUTES.items()},
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel=None,
    url_schemes=set(),
    url_relative="deny",
)


def sanitize_fragment(html: str) -> str:
    """A safe HTML fragment with the same structure and text as ``html`` (never raises)."""
    if not html:
        return ""
    return _CLEANER.clean(html)
