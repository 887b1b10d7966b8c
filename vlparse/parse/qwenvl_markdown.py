"""QwenVL Markdown answers (Qwen3-VL) -> the same blocks as QwenVL HTML, boxes where the format has them.

What the model writes (QwenLM/Qwen3-VL ``cookbooks/document_parsing.ipynb``: the prompt is the user text
``qwenvl markdown`` alone; the notebook says "all tables are represented in LaTeX with their corresponding
coordinates indicated before each table, and images are replaced with coordinate-based placeholders", and
its ``draw_bbox_markdown`` helper reads the coordinates with the pattern
``<!-- (Image|Table) \\(x1, y1, x2, y2\\) -->``, relative 0..1000 of the image):

- Markdown text: headings ``#``..``######``, paragraphs, lists, display math ``$$…$$``, code fences;
  none of these carry coordinates: they become blocks **without a box** (``attrs.no_box`` says why).
- ``<!-- Image (x1, y1, x2, y2) -->``: a picture, written as its placeholder: a ``figure`` block with a box.
- ``<!-- Table (x1, y1, x2, y2) -->`` followed by the table in LaTeX (``\\begin{tabular}…\\end{tabular}``,
  possibly inside ``$$``, a ``table`` environment or a code fence; ``\\multirow`` / ``\\multicolumn`` for
  spans): a ``table`` block with a box, ``attrs.rows`` in the same shape as QwenVL HTML tables (spanned
  positions omitted, ``rowspan``/``colspan`` on the spanning cell) and ``attrs.latex`` as written.

Pure: no torch, no I/O; never raises.
"""

from __future__ import annotations

import re
from html import escape

from vlparse.core.families import Family
from vlparse.core.geometry import clean_box
from vlparse.core.results import FAILED, OK, REPAIRED, REPETITION, TRUNCATED, Block, PageInfo
from vlparse.parse.repair import cut_repetition
from vlparse.parse.text import strip_special_tokens

NO_BOX = "QwenVL Markdown gives coordinates to tables and images only"
_COORD = re.compile(r"<!--\s*(Image|Table|Figure|Chart)\s*\(\s*([-\d.\s,]+?)\s*\)\s*-->", re.I)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$")
_BEGIN_TAB = re.compile(r"\\begin\{(tabular\*?|tabularx|longtable|array)\}")
_END_TAB = re.compile(r"\\end\{(tabular\*?|tabularx|longtable|array)\}")
_RULES = re.compile(r"\\(?:hline|toprule|midrule|bottomrule|endhead|endfirsthead|endfoot|endlastfoot)\b|"
                    r"\\(?:cline|cmidrule)(?:\([^)]*\))?\{[^}]*\}")


def parse_page_markdown(text: str, family: Family, info: PageInfo):
    """One QwenVL Markdown answer -> :class:`vlparse.parse.html.ParsedPage` (never raises)."""
    from vlparse.parse.html import ParsedPage

    try:
        return _parse(text or "", family, info)
    except Exception as e:  # noqa: BLE001 - a malformed answer must never stop a run
        msg = f"could not parse the answer: {type(e).__name__}: {e}"
        return ParsedPage(FAILED, [msg], [], msg)


def _unfence(text: str) -> tuple[str, list[str]]:
    """The answer without an outer ```markdown fence (inner fences, e.g. code, are kept)."""
    s = strip_special_tokens(text).strip()
    m = re.match(r"^```[ \t]*(markdown|md)?[ \t]*\r?\n", s, re.I)
    if not m:
        return s, []
    body = s[m.end():]
    if body.rstrip().endswith("```"):
        body = body.rstrip()[:-3]
    return body.strip("\n"), []


def _parse(text: str, family: Family, info: PageInfo):
    from vlparse.parse.html import ParsedPage

    warnings: list[str] = []
    if not text.strip():
        return ParsedPage(FAILED, ["the answer is empty"], [], "the answer is empty")
    body, notes = _unfence(text)
    warnings += notes
    body, loop = cut_repetition(body)
    if loop:
        warnings.append(f"repetition loop cut: {loop}")
    lines = body.splitlines()
    blocks: list[Block] = []
    truncated = None
    pending: tuple[str, list[float] | None, str] | None = None  # a Table coordinate waiting for its table
    para: list[str] = []
    i = 0

    def flush_para() -> None:
        if para:
            t = " ".join(x.strip() for x in para).strip()
            if t:
                blocks.append(_unboxed("paragraph", t, f"<p>{escape(t)}</p>"))
            para.clear()

    while i < len(lines):
        line = lines[i]
        s = line.strip()
        m = _COORD.search(s)
        if m:
            flush_para()
            kind = m.group(1).lower()
            box = _box(m.group(2), family, info, warnings)
            rest = (s[:m.start()] + s[m.end():]).strip()
            if kind == "table":
                if pending is not None:
                    warnings.append("a table's coordinates were not followed by a table")
                pending = ("table", box, m.group(0))
            else:
                blocks.append(Block("chart" if kind == "chart" else "figure", "", "", box,
                                    info.frame.to_points(box) if box else None))
            if rest:
                lines[i] = rest
                continue
            i += 1
            continue
        if not s:
            flush_para()
            i += 1
            continue
        # a LaTeX table (bare, in $$, in a table environment or in a fence)
        if _BEGIN_TAB.search(s) or (s.startswith(("$$", "```", "\\begin{table", "\\begin{center")) and
                                    _table_ahead(lines, i)):
            flush_para()
            j, latex, complete = _collect_table(lines, i)
            box = pending[1] if pending else None
            pending = None
            blocks.append(_table_block(latex, box, info, warnings, complete))
            if not complete:
                truncated = "the answer ends inside a LaTeX table"
            i = j
            continue
        if s.startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-{2,}", lines[i + 1]):
            flush_para()
            j = i
            rows = []
            while j < len(lines) and lines[j].strip().startswith("|"):
                if j != i + 1:
                    rows.append([{"text": c.strip(), "rowspan": 1, "colspan": 1, "header": j == i}
                                 for c in lines[j].strip().strip("|").split("|")])
                j += 1
            box = pending[1] if pending else None
            pending = None
            blocks.append(_rows_block(rows, box, info, "\n".join(lines[i:j])))
            i = j
            continue
        hm = _HEADING.match(s)
        if hm:
            flush_para()
            t = hm.group(2)
            level = len(hm.group(1))
            b = _unboxed("heading", t, f"<h{level}>{escape(t)}</h{level}>")
            b.attrs["level"] = level
            blocks.append(b)
            i += 1
            continue
        if s.startswith("$$"):
            flush_para()
            j, latex, complete = _collect_until(lines, i, "$$")
            b = _unboxed("formula", latex, "")
            b.attrs["latex"] = latex
            if not complete:
                truncated = "the answer ends inside $$ display math"
                b.attrs["incomplete"] = True
            blocks.append(b)
            i = j
            continue
        if s.startswith("```"):
            flush_para()
            lang = s[3:].strip()
            j, code, complete = _collect_until(lines, i, "```")
            b = _unboxed("code", code, f"<pre>{escape(code)}</pre>")
            if lang:
                b.attrs["language"] = lang
            if not complete:
                truncated = "the answer ends inside a code block"
                b.attrs["incomplete"] = True
            blocks.append(b)
            i = j
            continue
        lm = _LIST_ITEM.match(line)
        if lm and not para:
            items, ordered = [], bool(lm.group(2))
            while i < len(lines) and (m2 := _LIST_ITEM.match(lines[i])):
                items.append({"text": m2.group(3).strip()})
                i += 1
            tag = "ol" if ordered else "ul"
            html = f"<{tag}>" + "".join(f"<li>{escape(it['text'])}</li>" for it in items) + f"</{tag}>"
            b = _unboxed("list", "\n".join(it["text"] for it in items), html)
            b.attrs.update({"ordered": ordered, "items": items})
            blocks.append(b)
            continue
        para.append(line)
        i += 1
    flush_para()
    if pending is not None:
        warnings.append("a table's coordinates were not followed by a table: kept the box as an empty table")
        blocks.append(_rows_block([], pending[1], info, ""))
    if not blocks:
        return ParsedPage(FAILED, [*warnings, "no blocks found in the answer"], [], "no blocks found in the answer")
    from vlparse.parse.html import _type_captions

    _type_captions(blocks)  # "Table 1: ..." next to a table, "Figure 1: ..." next to an image
    if truncated:
        warnings.append(f"the answer is truncated: {truncated}")
        blocks[-1].attrs["incomplete"] = True
    status = REPETITION if loop else TRUNCATED if truncated else REPAIRED if warnings else OK
    return ParsedPage(status, warnings, blocks)


def _unboxed(kind: str, text: str, html: str) -> Block:
    return Block(kind, text, html, None, None, {"no_box": NO_BOX})


def _box(values: str, family: Family, info: PageInfo, warnings: list[str]) -> list[float] | None:
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", values)]
    if len(nums) != 4:
        warnings.append(f"dropped malformed coordinates ({values.strip()})")
        return None
    box, warns = clean_box(info.frame.to_pixels(nums, family.coords), info.frame.width, info.frame.height)
    warnings += warns
    return box


def _table_ahead(lines: list[str], i: int) -> bool:
    """A wrapper line ($$, a fence, ``\\begin{table}``) whose next few lines open a tabular."""
    return any(_BEGIN_TAB.search(ln) for ln in lines[i:i + 4])


def _collect_table(lines: list[str], i: int) -> tuple[int, str, bool]:
    """(next line, the LaTeX from ``\\begin{tabular}`` to ``\\end{tabular}``, complete)."""
    depth, out, j, started = 0, [], i, False
    while j < len(lines):
        ln = lines[j]
        if _BEGIN_TAB.search(ln):
            started = True
        if started:
            out.append(ln)
            depth += len(_BEGIN_TAB.findall(ln)) - len(_END_TAB.findall(ln))
        j += 1
        if started and depth <= 0:
            # swallow the wrapper's closing line ($$, ```, \end{table}, \end{center})
            while j < len(lines) and lines[j].strip() in ("$$", "```", "\\end{table}", "\\end{center}",
                                                          "\\end{table*}"):
                j += 1
            text = "\n".join(out)
            text = text[_BEGIN_TAB.search(text).start():]
            end = list(_END_TAB.finditer(text))[-1]
            return j, text[:end.end()], True
    text = "\n".join(out)
    return j, text[_BEGIN_TAB.search(text).start():] if _BEGIN_TAB.search(text) else text, False


def _collect_until(lines: list[str], i: int, fence: str) -> tuple[int, str, bool]:
    first = lines[i].strip()[len(fence):]
    if fence == "$$" and first.rstrip().endswith("$$") and first.strip() != "":
        return i + 1, first.rstrip()[:-2].strip(), True
    out = [first] if fence == "$$" and first.strip() else []
    j = i + 1
    while j < len(lines):
        s = lines[j].strip()
        if s.startswith(fence) if fence == "```" else s.endswith(fence):
            if fence == "$$" and s != "$$":
                out.append(s[:-2])
            return j + 1, "\n".join(out).strip("\n"), True
        out.append(lines[j])
        j += 1
    return j, "\n".join(out).strip("\n"), False


# -- LaTeX tables --------------------------------------------------------------------------------------


def _arg(s: str, k: int) -> tuple[str, int]:
    """The brace group starting at or after ``k`` (nested braces kept): (content, index after it)."""
    while k < len(s) and s[k] in " \t\n":
        k += 1
    if k >= len(s) or s[k] != "{":
        return "", k
    depth, start = 0, k
    while k < len(s):
        c = s[k]
        if c == "\\":
            k += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return s[start + 1:k], k + 1
        k += 1
    return s[start + 1:], len(s)


def _split(s: str, sep: str) -> list[str]:
    """Split on ``sep`` outside braces and not escaped (``\\&``)."""
    parts, depth, cur, k = [], 0, [], 0
    while k < len(s):
        if s.startswith("\\\\", k) and sep == "\\\\" and depth == 0:
            parts.append("".join(cur))
            cur = []
            k += 2
            continue
        c = s[k]
        if c == "\\" and k + 1 < len(s):
            cur.append(s[k:k + 2])
            k += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        k += 1
    parts.append("".join(cur))
    return parts


def latex_text(s: str) -> str:
    """Cell text from LaTeX: formatting commands unwrapped, escapes resolved, math kept as written."""
    s = re.sub(r"\\(?:textbf|textit|emph|underline|text|mathrm|textrm|texttt|small|footnotesize|bf|it)\s*\{",
               "{", s)
    s = re.sub(r"\\makecell(?:\[[^\]]*\])?\{", "{", s)
    s = s.replace("\\newline", " ").replace("\\\\", " ")
    for cmd, ch in (("\\texteuro", "€"), ("\\euro", "€"), ("\\pounds", "£"), ("\\textdollar", "$"),
                    ("\\textdegree", "°"), ("\\textperthousand", "‰")):
        s = s.replace(cmd + "{}", ch).replace(cmd, ch)
    s = re.sub(r"\\([&%$#_{}])", r"\1", s)
    s = re.sub(r"(?<!\\)[{}]", "", s)
    return " ".join(s.split())


def _cell(raw: str) -> tuple[str, int, int]:
    """(text, rowspan, colspan) of one LaTeX cell (``\\multicolumn`` and ``\\multirow``, nested either way)."""
    s = raw.strip()
    rowspan = colspan = 1
    for _ in range(3):
        m = re.match(r"\\multicolumn\s*", s)
        if m:
            n, k = _arg(s, m.end())
            _, k = _arg(s, k)
            body, _ = _arg(s, k)
            colspan = max(1, int(n)) if n.strip().isdigit() else 1
            s = body.strip()
            continue
        m = re.match(r"\\multirow\s*", s)
        if m:
            n, k = _arg(s, m.end())
            while k < len(s) and s[k] in " [":  # optional [bigstruts] / [fixup]
                if s[k] == "[":
                    k = s.find("]", k) + 1 or len(s)
                else:
                    k += 1
            _, k = _arg(s, k)  # width
            body, _ = _arg(s, k)
            rowspan = max(1, int(n)) if n.strip().lstrip("-").isdigit() else 1
            s = body.strip()
            continue
        break
    return latex_text(s), rowspan, colspan


def parse_latex_table(latex: str) -> list[list[dict]]:
    """``\\begin{tabular}{..} … \\end{tabular}`` -> rows of cells ``{text, rowspan, colspan, header}`` in the
    shape of QwenVL HTML tables: a position covered by a ``\\multirow`` above is left out of later rows."""
    m = _BEGIN_TAB.search(latex)
    body = latex[m.end():] if m else latex
    if m:
        _, k = _arg(body, 0)  # the column spec
        body = body[k:]
    end = _END_TAB.search(body)
    body = body[:end.start()] if end else body
    body = _RULES.sub(" ", body)
    rows: list[list[dict]] = []
    covered: dict[int, int] = {}  # column -> rows still covered by a rowspan from above
    for raw_row in _split(body, "\\\\"):
        if not raw_row.strip():
            continue
        cells = [_cell(c) for c in _split(raw_row, "&")]
        row, col = [], 0
        for text, rs, cs in cells:
            if covered.get(col, 0) > 0:  # the placeholder under a \multirow from above: left out
                for c in range(col, col + cs):
                    covered[c] = max(0, covered.get(c, 0) - 1)
                col += cs
                continue
            row.append({"text": text, "rowspan": rs, "colspan": cs, "header": False})
            if rs > 1:
                for c in range(col, col + cs):
                    covered[c] = rs - 1
            col += cs
        for c in list(covered):  # a short row: positions past its end stay covered this row too
            if c >= col and covered[c] > 0:
                covered[c] -= 1
        rows.append(row)
    return rows


def _rows_html(rows: list[list[dict]]) -> str:
    out = []
    for row in rows:
        cells = []
        for c in row:
            span = (f' rowspan="{c["rowspan"]}"' if c["rowspan"] > 1 else "") + \
                   (f' colspan="{c["colspan"]}"' if c["colspan"] > 1 else "")
            tag = "th" if c.get("header") else "td"
            cells.append(f"<{tag}{span}>{escape(c['text'])}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(out) + "</table>"


def _rows_block(rows: list[list[dict]], box: list[float] | None, info: PageInfo, source: str) -> Block:
    from vlparse.parse.html import table_width

    text = "\n".join(" | ".join(c["text"] for c in row) for row in rows)
    attrs = {"rows": rows, "n_rows": len(rows), "n_cols": table_width(rows) if rows else 0}
    if source:
        attrs["source"] = source
    return Block("table", text, _rows_html(rows) if rows else "", box, info.frame.to_points(box) if box else None,
                 attrs)


def _table_block(latex: str, box: list[float] | None, info: PageInfo, warnings: list[str], complete: bool) -> Block:
    rows = parse_latex_table(latex)
    b = _rows_block(rows, box, info, "")
    b.attrs["latex"] = latex
    if box is None:
        b.attrs["no_box"] = "this table came without its coordinates"
    if not complete:
        b.attrs["incomplete"] = True
    return b
