"""Sanitising HTML that came from a model, with nh3 (the Ammonia sanitiser).

Model output is untrusted: a prompt-injected page, or a model imitating web pages, can write
``<script>``, event handlers, ``javascript:`` links or remote images. Everything vlparse exports
that came from an answer goes through :func:`sanitize_fragment`, which keeps the document
structure (headings, paragraphs, lists, tables with ``rowspan``/``colspan``, inline emphasis,
``class`` and ``data-bbox``) and removes the rest:

- no scripting: ``<script>``, ``<style>``, ``<iframe>``, ``<object>``, ``<embed>``, ``<svg>``,
  ``<math>``, ``<template>``, ``<noscript>`` (with their content), forms, event-handler and
  ``style`` attributes, comments;
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

#: removed together with everything inside them
CONTENT_DROPPED: frozenset[str] = frozenset({
    "script", "style", "iframe", "object", "embed", "noscript", "template", "title", "head", "svg",
    "math", "textarea", "select", "applet", "frame", "frameset", "noembed", "noframes", "xmp",
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
}

_NUMBERS = re.compile(r"^[\s\d.,\-+eE\[\]()]*$")
_CLASS = re.compile(r"^[\w .:-]*$")
_INTEGER = re.compile(r"^\s*\d{1,4}\s*$")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr in ("data-bbox", "data-bbox-pt", "data-polygon"):
        return value if _NUMBERS.match(value) else None
    if attr == "class":
        return value if _CLASS.match(value) else None
    if attr in ("rowspan", "colspan", "span", "start", "value", "width", "height"):
        return value.strip() if _INTEGER.match(value) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
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
