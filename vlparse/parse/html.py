"""QwenVL HTML answers -> validated, grounded blocks of one page.

``parse_page_html(text, family, info)`` never raises. It

1. takes the HTML out of a code fence and drops chatter around it (warned);
2. cuts a trailing repetition loop (:func:`vlparse.parse.repair.cut_repetition`): status
   ``repetition``, with what was cut;
3. checks the tag structure: an answer that ends inside a tag or with elements still open is
   ``truncated`` (the last block is marked ``attrs.incomplete``); unclosed inline tags and
   stray end tags are repaired by the parser and warned;
4. parses with lxml (libxml2's recovering HTML parser) and walks the body in reading order,
   one :class:`~vlparse.core.results.Block` per boxed element (types from :mod:`vlparse.parse.schema`);
5. maps every ``data-bbox`` from the family's coordinate space to original page pixels
   (``Frame.to_pixels``) and PDF points (``Frame.to_points``); boxes are validated with
   ``clean_box`` (swapped corners, clipped, degenerate ones dropped: one warning each), and a
   page whose boxes look like another coordinate space is warned;
6. keeps blocks without a box (bbox None, warned), drops consecutive duplicate blocks, and types
   a "Figure 2: ..." paragraph next to a figure or table as its caption.

Pure: no torch, no I/O.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import lxml.etree
import lxml.html

from vlparse.core.families import ABSOLUTE, REL1000, Family
from vlparse.core.geometry import clean_box
from vlparse.core.results import FAILED, OK, REPAIRED, REPETITION, TRUNCATED, Block, PageInfo
from vlparse.parse import schema
from vlparse.parse.repair import cut_repetition
from vlparse.parse.sanitize import sanitize_fragment
from vlparse.parse.text import clean_answer_text, strip_code_fence

#: elements without content
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                  "track", "wbr"})
#: elements whose end tag HTML lets a writer omit: closing their parent over them is no repair
OPTIONAL_END = frozenset({"p", "li", "dt", "dd", "td", "th", "tr", "thead", "tbody", "tfoot", "colgroup", "caption",
                          "option", "rt", "rp", "html", "body", "head"})
#: inline elements: they never make a block of their own
INLINE = frozenset({"a", "abbr", "b", "bdi", "bdo", "big", "cite", "data", "del", "dfn", "em", "font", "i", "ins",
                    "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt",
                    "u", "var", "wbr", "br", "label"})
#: elements that start a new line in the text of a block
LINE_BREAKING = frozenset({"p", "div", "li", "tr", "table", "ul", "ol", "pre", "blockquote", "caption",
                           "figcaption", "section", "article", "header", "footer", "figure", "dt", "dd", "hr",
                           *schema.HEADINGS})
#: types that stand for a page region: unboxed, they pass their type on to their boxed children
REGION_TYPES = frozenset(t for t, spec in schema.TYPES.items() if spec.region)
#: types that keep line breaks and spacing in their text
VERBATIM_TYPES = frozenset(t for t, spec in schema.TYPES.items() if spec.verbatim)
#: typed blocks that may legitimately carry no text (an image, a chart drawn without data)
MAY_BE_EMPTY = frozenset(t for t, spec in schema.TYPES.items() if spec.may_be_empty)

HOSTILE = frozenset({"script", "iframe", "object", "embed", "frame", "frameset", "applet", "base", "link", "meta"})

#: element nesting past which an answer is refused (real pages nest a dozen levels; libxml2 stops at 256)
MAX_NESTING = 128

#: a relative (0..1000) box never exceeds this; an absolute one never exceeds the image by more than this
_SLACK = 1.02
_MAX_SPAN = 1000

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\r\n\f\v]+")
_LANG_CLASS = re.compile(r"(?:^|\s)(?:language|lang)-([\w+#.-]+)")
_MATH_DELIMS = ((r"$$", r"$$"), (r"\[", r"\]"), (r"\(", r"\)"), ("$", "$"))
_DOC_START = re.compile(r"<(?:!doctype|html|body|[a-z][a-z0-9]*[\s/>])", re.IGNORECASE)
_DOC_END = re.compile(r"</(?:html|body)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[a-zA-Z!/]")
_MISPARSED_VOID = re.compile(r"</?(embed|source|track|wbr|keygen)\b[^>]*>", re.IGNORECASE)
_BLOCK_END = re.compile(r"(</(?:tr|p|li|h[1-6]|div|table|ul|ol)\s*>)(?![ \t]*\n)", re.IGNORECASE)
_URL_WITH_SCHEME = re.compile(r"^\s*(?:[a-zA-Z][\w+.-]*:|//)")


@dataclass
class ParsedPage:
    status: str
    warnings: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    error: str | None = None  # why the page is FAILED


def parse_page_html(text: str, family: Family, info: PageInfo) -> ParsedPage:
    """One answer in QwenVL HTML -> the page's status, warnings and blocks (never raises)."""
    try:
        return _parse(text or "", family, info)
    except Exception as e:  # noqa: BLE001 - a malformed answer must never stop a run
        msg = f"could not parse the answer: {type(e).__name__}: {e}"
        return ParsedPage(FAILED, [msg], [], msg)


# --------------------------------------------------------------------------- the steps


def _parse(text: str, family: Family, info: PageInfo) -> ParsedPage:
    text, warnings = clean_answer_text(text)
    if not text.strip():
        return _failed(warnings, "the answer is empty")
    html, notes = extract_html(text)
    warnings += notes
    if not _TAG.search(html):
        return _plain_text(html, warnings)

    html, loop = cut_repetition(_one_element_per_line(html))
    if loop:
        warnings.append(f"repetition loop cut: {loop}")

    check = check_structure(html)
    if check.depth > MAX_NESTING:
        # libxml2 stops building the tree at 256 levels and drops the rest: refuse instead of misreading
        return _failed(warnings, f"the answer nests elements {check.depth} levels deep (more than {MAX_NESTING}); "
                                 "not read")
    html = html[:check.end]
    truncated = check.truncated if not loop else None  # a cut loop always ends mid-element
    if truncated:
        warnings.append(f"the answer is truncated: {truncated}")
    warnings += check.repairs

    html, dropped = drop_misparsed_voids(html)
    warnings += [f"removed a <{t}> element from the answer" for t in dropped if t in HOSTILE]
    body = _tree(html)
    if body is None:
        return _failed(warnings, "the answer has no HTML elements lxml can read")
    warnings += hostile_markup(body)
    walker = _Walker(family, info)
    warnings += walker.check_coordinate_space(body)
    walker.visit_children(body)
    blocks = walker.blocks
    warnings += walker.warnings
    blocks, dup_notes = _drop_repeated_blocks(blocks)
    warnings += dup_notes
    _type_captions(blocks)
    if not blocks:
        return _failed(warnings, "no blocks found in the answer")
    if check.cut_inside:
        blocks[-1].attrs["incomplete"] = True

    if loop:
        status = REPETITION
    elif truncated:
        status = TRUNCATED
    elif warnings:
        status = REPAIRED
    else:
        status = OK
    return ParsedPage(status, warnings, blocks)


def _one_element_per_line(html: str) -> str:
    """A line break after each row, item, paragraph and heading, so loops written on one line
    (``<tr><td>17</td>…</tr><tr><td>18</td>…</tr>…``) show up as repeated lines to the loop detector.
    Only whitespace between elements is added: the page's text does not change."""
    return _BLOCK_END.sub(r"\1\n", html)


def _plain_text(text: str, warnings: list[str]) -> ParsedPage:
    """An answer without any tags (the model ignored the format): its paragraphs, unboxed."""
    paras = [_WS.sub(" ", p).strip() for p in re.split(r"\n\s*\n", text)]
    blocks = [Block("paragraph", p, f"<p>{_escape(p)}</p>") for p in paras if p]
    warnings.append(f"the answer is not QwenVL HTML (no tags): kept it as {len(blocks)} paragraph(s) without boxes")
    return ParsedPage(REPAIRED, warnings, blocks)


def _failed(warnings: list[str], why: str) -> ParsedPage:
    return ParsedPage(FAILED, [*warnings, why], [], why)


def _snippet(text: str, n: int = 60) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def extract_html(text: str) -> tuple[str, list[str]]:
    """The HTML part of an answer: the ```html fence's body, without chatter before or after."""
    notes: list[str] = []
    body = strip_code_fence(text, prefer="html")
    start = _DOC_START.search(body)
    if start and body[: start.start()].strip():
        notes.append(f"dropped text before the HTML: {_snippet(body[: start.start()])!r}")
    if start:
        body = body[start.start():]
    ends = list(_DOC_END.finditer(body))
    if ends:
        tail = body[ends[-1].end():]
        if tail.strip() and not _TAG.search(tail):
            notes.append(f"dropped text after the HTML: {_snippet(tail)!r}")
            body = body[: ends[-1].end()]
    return body.strip(), notes


@dataclass
class Structure:
    end: int  # keep html[:end] (a tag cut in half at the end is dropped)
    truncated: str | None  # why the answer looks cut off, or None
    repairs: list[str]
    cut_inside: bool = False  # it ends inside an element or a tag: the last block is incomplete
    depth: int = 0  # the deepest element nesting


#: a start tag that closes the open element(s) on top of the stack, as HTML does
_IMPLIED_CLOSE = {"li": ("li",), "td": ("td", "th"), "th": ("td", "th"), "tr": ("tr", "td", "th"),
                  "dt": ("dt", "dd"), "dd": ("dt", "dd")}
_CLOSES_P = frozenset({"p", "div", "ul", "ol", "table", "pre", "blockquote", "section", "header", "footer", "figure",
                       "hr", "dl", *schema.HEADINGS})


class _TagScanner(HTMLParser):
    """Tracks open elements the way a writer meant them (no HTML5 tree-building repairs)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.opened: set[str] = set()
        self.closed: set[str] = set()
        self.repairs: list[str] = []
        self.depth = 0  # the deepest nesting seen

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        if tag in ("html", "body", "head"):
            self.opened.add(tag)
            return
        # elements HTML closes implicitly (a new <li> ends the last one, a new row ends the cell ...)
        implied = _IMPLIED_CLOSE.get(tag, ("p",) if tag in _CLOSES_P else ())
        while implied and self.stack and self.stack[-1] in implied:
            self.stack.pop()
        self.stack.append(tag)
        self.depth = max(self.depth, len(self.stack))

    def handle_startendtag(self, tag, attrs):
        if tag in ("html", "body", "head"):
            self.opened.add(tag)

    def handle_endtag(self, tag):
        if tag in ("html", "body", "head"):
            self.closed.add(tag)
            return
        if tag in VOID:
            return
        if tag not in self.stack:
            self.repairs.append(f"ignored a stray </{tag}>")
            return
        while self.stack:
            top = self.stack.pop()
            if top == tag:
                break
            if top not in OPTIONAL_END:
                self.repairs.append(f"closed an unclosed <{top}> at </{tag}>")


def check_structure(html: str) -> Structure:
    """Is the answer complete? Ends mid-tag or with open elements -> truncated."""
    scanner = _TagScanner()
    scanner.feed(html)
    rest = scanner.rawdata  # what the tokenizer could not finish: a tag cut in half
    end = len(html)
    reason = None
    if rest.lstrip().startswith("<") and ">" not in rest:
        end = len(html) - len(rest)
        reason = f"it ends inside a tag ({_snippet(rest, 30)!r})"
    if reason is None and scanner.stack:
        shown = ", ".join(f"<{t}>" for t in scanner.stack[:4])
        more = f" and {len(scanner.stack) - 4} more" if len(scanner.stack) > 4 else ""
        reason = f"it ends inside <{scanner.stack[-1]}> ({shown}{more} not closed)"
    if reason is None and "html" in scanner.opened and not ({"html", "body"} & scanner.closed):
        reason = "the document is not closed (no </body></html>)"
    return Structure(end, reason, scanner.repairs, bool(scanner.stack) or end < len(html), scanner.depth)


def drop_misparsed_voids(html: str) -> tuple[str, list[str]]:
    """Remove void elements that libxml2 (2.14) parses as containers, swallowing what follows.

    ``<embed>``, ``<source>``, ``<track>``, ``<wbr>`` and ``<keygen>`` carry no page text, and the
    sanitiser would drop them anyway; left in, the rest of the page would vanish inside them.
    """
    found = [m.group(1).lower() for m in _MISPARSED_VOID.finditer(html) if not m.group(0).startswith("</")]
    return _MISPARSED_VOID.sub("", html), found


def _tree(html: str):
    """The body element of the answer (lxml, recovering), or None."""
    parser = lxml.html.HTMLParser(recover=True, remove_comments=True, remove_pis=True, no_network=True)
    html = re.sub(r"^\s*<\?xml[^>]*>", "", html)  # lxml refuses str input with an encoding declaration
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None
    body = root.find("body")
    return body if body is not None else root


def hostile_markup(body) -> list[str]:
    """Say what the sanitiser will remove that an attacker could have meant (handlers, URLs)."""
    handlers = urls = 0
    for el in body.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                handlers += 1
            elif name.lower() in ("href", "src", "srcset", "action", "formaction", "xlink:href", "data", "poster") \
                    and _URL_WITH_SCHEME.match(value or ""):
                urls += 1
    notes = []
    if handlers:
        notes.append(f"removed {handlers} event-handler attribute(s) from the answer")
    if urls:
        notes.append(f"removed {urls} script, data or remote URL(s) from the answer")
    return notes


# --------------------------------------------------------------------------- boxes


def parse_bbox(value: str | None) -> list[float] | None:
    """``"x1 y1 x2 y2"`` (also with commas or brackets) -> four finite numbers, or None."""
    if value is None:
        return None
    nums = _NUMBER.findall(value)
    if len(nums) != 4:
        return None
    vals = [float(v) for v in nums]
    return vals if all(math.isfinite(v) for v in vals) else None


# --------------------------------------------------------------------------- text


def element_text(el, verbatim: bool = False) -> str:
    """Text of an element as a reader sees it: ``<br>`` and block elements start lines.

    ``verbatim`` keeps the answer's own spacing and line breaks (code, ABC, SMILES, LaTeX).
    """
    parts: list[str] = []

    def add(s: str | None) -> None:
        if s:
            parts.append(s if verbatim else _WS.sub(" ", s))

    def walk(node) -> None:
        tag = node.tag if isinstance(node.tag, str) else None
        if tag is None or tag.lower() in schema.DROPPED:
            return
        tag = tag.lower()
        if tag == "br":
            parts.append("\n")
        breaking = tag in LINE_BREAKING
        if breaking:
            parts.append("\n")
        add(node.text)
        for child in node:
            walk(child)
            add(child.tail)
            if tag in ("tr",) and isinstance(child.tag, str) and child.tag.lower() in ("td", "th"):
                parts.append(" ")
        if breaking:
            parts.append("\n")

    walk(el)
    raw = "".join(parts)
    if verbatim:
        lines = [ln.rstrip() for ln in raw.split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines)
    lines = [_WS.sub(" ", ln).strip() for ln in raw.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def strip_math_delimiters(latex: str) -> str:
    s = latex.strip()
    for left, right in _MATH_DELIMS:
        if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
            return s[len(left): len(s) - len(right)].strip()
    return s


# --------------------------------------------------------------------------- the walk


def _tag(el) -> str | None:
    return el.tag.lower() if isinstance(el.tag, str) else None


class _Walker:
    """Turns the body's elements into blocks, in document (= reading) order."""

    def __init__(self, family: Family, info: PageInfo):
        self.family = family
        self.frame = info.frame
        self.blocks: list[Block] = []
        self.warnings: list[str] = []
        #: element -> its data-bbox mapped to page pixels (box or None, repair notes): each box is mapped once,
        #: whether it is a block's, a list item's, a line's or a box inside a block's HTML
        self._mapped: dict = {}

    # ---- coordinates

    def check_coordinate_space(self, body) -> list[str]:
        """Warn when the page's boxes look like another coordinate space than the family's."""
        boxes = [b for b in (parse_bbox(el.get("data-bbox")) for el in body.iter() if isinstance(el.tag, str))
                 if b is not None]
        if not boxes:
            return []
        max_x = max(max(b[0], b[2]) for b in boxes)
        max_y = max(max(b[1], b[3]) for b in boxes)
        fam, f = self.family, self.frame
        reach = f"boxes reach ({max_x:g}, {max_y:g})"
        if fam.coords == REL1000 and (max_x > _MAX_SPAN * _SLACK or max_y > _MAX_SPAN * _SLACK):
            msg = (f"{reach} but {fam.title} answers in 0..1000 of the image: they look like pixels "
                   "(wrong --family?); out-of-range boxes are clipped")
            return [msg]
        if fam.coords == ABSOLUTE:
            mw, mh = f.model_width, f.model_height
            if max_x > mw * _SLACK or max_y > mh * _SLACK:
                msg = (f"{reach}, outside the {mw}x{mh} image the model saw ({fam.title} answers in its pixels): "
                       "wrong coordinate space or --max-pixels?; out-of-range boxes are clipped")
                return [msg]
            if (len(boxes) >= 3 and max(mw, mh) >= 1.3 * _MAX_SPAN and max(max_x, max_y) <= _MAX_SPAN
                    and max(max_x, max_y) >= 0.9 * _MAX_SPAN and max_x < 0.8 * mw and max_y < 0.8 * mh):
                msg = (f"every box lies within 0..1000 although the model saw a {mw}x{mh} image: the answer looks "
                       f"like 0..1000 relative coordinates, not {fam.title}'s pixels (wrong --family?)")
                return [msg]
        return []

    def _map(self, raw: list[float]) -> tuple[list[float] | None, list[str]]:
        px = self.frame.to_pixels(raw, self.family.coords)
        return clean_box(px, self.frame.width, self.frame.height)

    def _mapped_box(self, el) -> tuple[list[float] | None, list[str]]:
        """The element's data-bbox in page pixels, with the repair notes (None: no box, or a malformed one)."""
        got = self._mapped.get(el)
        if got is None:
            raw = parse_bbox(el.get("data-bbox"))
            got = self._map(raw) if raw is not None else (None, [])
            self._mapped[el] = got  # the dict keeps the element's proxy alive, so the key stays the same node
        return got

    def _box(self, el, label: str) -> tuple[list[float] | None, list[float] | None]:
        value = el.get("data-bbox")
        if value is None:
            self.warnings.append(f"{label} has no data-bbox")
            return None, None
        raw = parse_bbox(value)
        if raw is None:
            self.warnings.append(f"{label} has a malformed data-bbox {value!r}; box dropped")
            return None, None
        box, notes = self._mapped_box(el)
        self.warnings += [f"{label}: {n}" for n in notes]
        return box, self.frame.to_points(box)

    def _fragment(self, el) -> str:
        """The element as sanitised HTML, its (and its children's) boxes in original page pixels."""
        copied = _copy(el)
        for orig, node in zip(el.iter(), copied.iter(), strict=True):  # the copy has the same nodes in order
            if not isinstance(node.tag, str) or node.get("data-bbox") is None:
                continue
            box = self._mapped_box(orig)[0]
            if box is None:
                del node.attrib["data-bbox"]
            else:
                node.set("data-bbox", " ".join(f"{v:g}" for v in box))
        html = lxml.html.tostring(copied, encoding="unicode", with_tail=False)
        return sanitize_fragment(html).strip()

    # ---- walking

    def _label(self, tag: str, btype: str) -> str:
        return f"block {len(self.blocks) + 1} (<{tag}>, {btype})"

    def visit_children(self, el, inherit: str | None = None) -> None:
        self._loose(el.text, inherit)
        for child in el:
            self.visit(child, inherit)
            self._loose(child.tail, inherit)

    def _loose(self, text: str | None, inherit: str | None) -> None:
        if text and text.strip():
            btype = inherit or "paragraph"
            self.warnings.append(f"{self._label('text', btype)}: text outside any element, kept without a box: "
                                 f"{_snippet(text)!r}")
            clean = _WS.sub(" ", text).strip()
            self.blocks.append(Block(btype, clean, sanitize_fragment(f"<p>{_escape(clean)}</p>")))

    def visit(self, el, inherit: str | None = None) -> None:
        tag = _tag(el)
        if tag is None:
            return
        if tag in schema.DROPPED:
            if tag in HOSTILE:
                self.warnings.append(f"removed a <{tag}> element from the answer")
            return
        if tag in ("br", "hr", "wbr"):
            return
        by_class = schema.type_from_class(el.get("class"))
        boxed = el.get("data-bbox") is not None
        if (by_class is None and tag in schema.CONTAINERS and _has_block_children(el)
                and (not boxed or _has_boxed_descendant(el))):
            # a grouping element (<div>, <section>, ...): its children are the blocks
            self.visit_children(el, inherit)
            return
        btype = schema.classify(tag, el.get("class"))
        if btype in REGION_TYPES and not boxed and _has_block_children(el):
            self.visit_children(el, btype)  # <header><p data-bbox>..</p></header>: header blocks
            return
        if btype in ("list",) and not boxed and any(_tag(li) == "li" and li.get("data-bbox") is not None
                                                    for li in el):
            self._list_items(el, tag == "ol")
            return
        if inherit and btype == "paragraph":
            btype = inherit
        self._block(el, tag, btype)

    def _list_items(self, el, ordered: bool) -> None:
        index = 0
        for child in el:
            if _tag(child) != "li":
                self.visit(child)
                continue
            index += 1
            label = self._label("li", "list_item")
            box, pt = self._box(child, label)
            self.blocks.append(Block("list_item", element_text(child), self._fragment(child), box, pt,
                                     {"ordered": ordered, "index": index}))

    def _block(self, el, tag: str, btype: str) -> None:
        label = self._label(tag, btype)
        verbatim = btype in VERBATIM_TYPES
        text = element_text(el, verbatim=verbatim)
        attrs: dict = {}
        reader = schema.TYPES[btype].reader
        if reader is not None:
            text = READERS[reader](self, el, tag, text, attrs, label)
        if btype == "paragraph" and not text and el.find(".//img") is not None:
            btype, label = "figure", self._label(tag, "figure")
        if not text and btype not in MAY_BE_EMPTY:
            self.warnings.append(f"dropped an empty <{tag}> element")
            return
        lines = self._lines(el, verbatim)
        if lines:
            attrs["lines"] = lines
        box, pt = self._box(el, label)
        self.blocks.append(Block(btype, text, self._fragment(el), box, pt, attrs))

    # ---- readers: one per block type that carries attrs (``schema.TYPES[type].reader``); each fills
    # ``attrs`` from the element and returns the block's text

    def _read_heading(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        attrs["level"] = schema.heading_level(tag) or 1
        return text

    def _read_list(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        attrs.update(self._list_attrs(el, tag == "ol"))
        return text

    def _read_table(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        table = el if tag == "table" else el.find(".//table")
        if table is None:
            return text
        attrs.update(self._table_attrs(table, label))
        cap = table.find("caption")
        if cap is not None and element_text(cap):
            attrs["caption"] = element_text(cap)
        if attrs.get("rows"):
            text = "\n".join(" | ".join(c["text"] for c in row) for row in attrs["rows"] if row)
        return text

    def _read_chart(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        table = el if tag == "table" else el.find(".//table")
        if table is not None:
            attrs.update(self._table_attrs(table, label))
        return text

    def _read_formula(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        attrs["latex"] = strip_math_delimiters(text)
        if "handwritten" in schema.class_tokens(el.get("class")):
            attrs["handwritten"] = True
        return attrs["latex"]

    def _read_chemical_formula(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        text = _WS.sub("", text)
        attrs["smiles"] = text
        return text

    def _read_music_sheet(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        attrs["abc"] = text
        return text

    def _read_code(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        attrs["language"] = _code_language(el)
        return text

    def _read_figure(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        img = el if tag == "img" else el.find(".//img")
        if not text and img is not None and (img.get("alt") or "").strip():
            text = img.get("alt").strip()
        if text and "ocr" in schema.class_tokens(el.get("class")):
            attrs["ocr_text"] = text
        elif text:
            attrs["caption"] = text
        return text

    def _read_other(self, el, tag: str, text: str, attrs: dict, label: str) -> str:
        attrs["tag"] = tag
        return text

    def _list_attrs(self, el, ordered: bool) -> dict:
        items = []
        for li in el.iterchildren():
            if _tag(li) != "li":
                continue
            item: dict = {"text": element_text(li)}
            if parse_bbox(li.get("data-bbox")) is not None:
                box = self._mapped_box(li)[0]
                item["bbox_px"], item["bbox_pt"] = box, self.frame.to_points(box)
            items.append(item)
        return {"ordered": ordered, "items": items}

    def _table_attrs(self, table, label: str) -> dict:
        rows = []
        for tr in table.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr"):
            row = []
            for cell in tr:
                ctag = _tag(cell)
                if ctag not in ("td", "th"):
                    continue
                row.append({"text": element_text(cell), "rowspan": self._span(cell, "rowspan", label),
                            "colspan": self._span(cell, "colspan", label), "header": ctag == "th"})
            rows.append(row)
        return {"rows": rows, "n_rows": len(rows), "n_cols": table_width(rows)}

    def _span(self, cell, name: str, label: str) -> int:
        value = cell.get(name)
        if value is None:
            return 1
        try:
            n = int(value.strip())
        except ValueError:
            self.warnings.append(f"{label}: ignored {name}={value!r}")
            return 1
        if not 1 <= n <= 1000:
            self.warnings.append(f"{label}: ignored {name}={value!r}")
            return 1
        return n

    def _lines(self, el, verbatim: bool) -> list[dict]:
        """Line-level boxes: boxed inline children (``<span data-bbox>``) of a block."""
        lines = []
        for node in el.iterdescendants():
            if _tag(node) in INLINE and node.get("data-bbox") is not None:
                box = self._mapped_box(node)[0]
                if box is not None:
                    lines.append({"text": element_text(node, verbatim), "bbox_px": box,
                                  "bbox_pt": self.frame.to_points(box)})
        return lines


#: reader name (``schema.TYPES[type].reader``) -> the walker's method that reads that type
READERS = {spec.reader: getattr(_Walker, f"_read_{spec.reader}") for spec in schema.TYPES.values() if spec.reader}


def _has_block_children(el) -> bool:
    """Does the element hold block-level elements (not just text, inline markup and images)?"""
    return any(_tag(c) not in (None, "img", *INLINE, *schema.DROPPED) for c in el)


def _has_boxed_descendant(el) -> bool:
    return any(isinstance(d.tag, str) and d.get("data-bbox") is not None and _tag(d) not in INLINE
               for d in el.iterdescendants())


def _copy(el):
    return copy.deepcopy(el)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code_language(el) -> str | None:
    for node in (el, *el.iterdescendants()):
        if not isinstance(node.tag, str):
            continue
        for attr in ("data-language", "data-lang", "lang"):
            if node.get(attr):
                return node.get(attr).strip().lower()
        m = _LANG_CLASS.search(node.get("class") or "")
        if m:
            return m.group(1).lower()
    return None


def table_width(rows: list[list[dict]]) -> int:
    """Columns of a table, honouring rowspan/colspan (cells spanning down occupy later rows)."""
    occupied: dict[tuple[int, int], bool] = {}
    width = 0
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while occupied.get((r, c)):
                c += 1
            for dr in range(cell.get("rowspan", 1)):
                for dc in range(cell.get("colspan", 1)):
                    occupied[(r + dr, c + dc)] = True
            c += cell.get("colspan", 1)
        width = max(width, c, max((cc + 1 for (rr, cc) in occupied if rr == r), default=0))
    return width


def _drop_repeated_blocks(blocks: list[Block]) -> tuple[list[Block], list[str]]:
    """A block repeated right after itself (same type, text and box) is a loop artefact."""
    kept: list[Block] = []
    notes: list[str] = []
    run = 0
    for b in blocks:
        prev = kept[-1] if kept else None
        if prev is not None and b.text and (b.type, b.text, b.bbox_px) == (prev.type, prev.text, prev.bbox_px):
            run += 1
            continue
        if run:
            notes.append(f"dropped {run} repeated cop{'y' if run == 1 else 'ies'} of block {len(kept)} "
                         f"({prev.type}: {_snippet(prev.text, 40)!r})")
        run = 0
        kept.append(b)
    if run:
        notes.append(f"dropped {run} repeated cop{'y' if run == 1 else 'ies'} of block {len(kept)} "
                     f"({kept[-1].type}: {_snippet(kept[-1].text, 40)!r})")
    return kept, notes


def _type_captions(blocks: list[Block]) -> None:
    """A paragraph that starts like a caption, next to a figure/table/chart, is its caption."""
    targets = ("figure", "table", "chart")
    for i, b in enumerate(blocks):
        if b.type != "paragraph" or not schema.CAPTION_START.match(b.text):
            continue
        for j in (i - 1, i + 1):
            if 0 <= j < len(blocks) and blocks[j].type in targets:
                b.type = "caption"
                b.attrs["of"] = j
                break

