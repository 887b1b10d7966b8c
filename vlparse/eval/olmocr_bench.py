"""olmOCR-Bench compatible scoring of vlparse's Markdown.

Reads olmOCR-Bench test files (JSONL, one test per line: ``pdf``, ``page``, ``id``, ``type`` and the type's
fields) and scores each test with the rules of olmOCR-Bench as published in the ``olmocr`` package, version
:data:`OLMOCR_VERSION` (``olmocr/bench/tests.py``; re-implemented here, not copied; the tests compare the two
on the same inputs when ``olmocr`` is installed). Test types: ``present``, ``absent`` (fuzzy partial match,
threshold ``1 - max_diffs / len(text)``, ``first_n``/``last_n``, ``case_sensitive``), ``order`` (fuzzy
substring search within ``max_diffs`` edits, fuzzysearch), ``table`` (HTML and Markdown tables, neighbours
up/down/left/right and top/left headings), ``baseline`` (not blank, no repeated n-gram run at the end,
no CJK/emoji when ``check_disallowed_characters``; ``max_length`` for blank pages), ``math``.

Difference, documented: olmOCR-Bench compares a ``math`` test's LaTeX with each equation of the page by
rendering both with KaTeX in a headless browser; here an equation passes when its LaTeX equals the test's
with whitespace removed. A visually equal but differently written equation fails here (stricter).

How a vlparse page becomes the Markdown the tests read (:func:`bench_markdown`): headings as ``#`` lines,
text blocks as paragraphs, lists as ``-`` items, tables as HTML ``<table>`` (rows and cells only),
formulas as ``$$ latex $$``, code fenced; page headers, footers and page numbers are left out, and figures
and charts contribute only their caption or text (no image links), because olmOCR-Bench's ``absent`` tests
check that running headers and footers are not in the output and image links are not page text.
"""

from __future__ import annotations

import html as htmllib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz

from vlparse.core.errors import InputError, UsageError

OLMOCR_VERSION = "0.4.27"
TYPES = ("present", "absent", "order", "table", "baseline", "math")
DROPPED_TYPES = frozenset({"header", "footer", "page_number"})

_FANCY = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\uff3f": "_",
          "\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-", "\u00b5": "\u03bc"}


def normalize(text: str) -> str:
    """olmOCR-Bench's text normalisation: <br> and whitespace to spaces, bold/italic marks removed, NFC,
    typographic quotes and dashes to ASCII."""
    text = re.sub(r"<br/?>", " ", text)
    text = re.sub(r"\s+", " ", text)
    for pattern in (r"\*\*(.*?)\*\*", r"__(.*?)__"):
        text = re.sub(pattern, r"\1", text)
    text = re.sub(r"</?[bi]>", "", text)
    for pattern in (r"\*(.*?)\*", r"_(.*?)_"):
        text = re.sub(pattern, r"\1", text)
    text = unicodedata.normalize("NFC", text)
    for a, b in _FANCY.items():
        text = text.replace(a, b)
    return text


def _threshold(max_diffs: int, text: str) -> float:
    return 1.0 - max_diffs / (len(text) if text else 1)


def check_presence(t: dict, md: str) -> tuple[bool, str]:
    query = normalize(t["text"])
    content = normalize(md)
    if not t.get("case_sensitive", True):
        query, content = query.lower(), content.lower()
    first, last = t.get("first_n"), t.get("last_n")
    if first and last:
        content = content[:first] + content[-last:]
    elif first:
        content = content[:first]
    elif last:
        content = content[-last:]
    threshold = _threshold(t.get("max_diffs", 0), query)
    ratio = fuzz.partial_ratio(query, content) / 100.0
    found = ratio >= threshold
    if t["type"] == "present":
        return found, "" if found else f"best match {ratio:.3f} < {threshold:.3f}"
    return not found, "" if not found else f"found with ratio {ratio:.3f} >= {threshold:.3f}"


def check_order(t: dict, md: str) -> tuple[bool, str]:
    from fuzzysearch import find_near_matches

    content = normalize(md)
    before, after = normalize(t["before"]), normalize(t["after"])
    dist = t.get("max_diffs", 0)
    b = find_near_matches(before, content, max_l_dist=dist)
    a = find_near_matches(after, content, max_l_dist=dist)
    if not b or not a:
        return False, f"{'before' if not b else 'after'} text not found"
    ok = any(x.start < y.start for x in b for y in a)
    return ok, "" if ok else "before does not come before after"


def check_baseline(t: dict, md: str) -> tuple[bool, str]:
    def alnum_len(s: str) -> int:
        return sum(1 for c in s if c.isalnum())

    if t.get("max_length") is not None:
        content = re.sub(r"!\[.*?\]\(.*?\)", "", md) if t.get("max_length_skips_image_alt_tags") else md
        n = alnum_len(content)
        return n <= t["max_length"], "" if n <= t["max_length"] else f"{n} characters on a blank page"
    if alnum_len(md) == 0:
        return False, "no alphanumeric characters"
    text = re.sub(r"\s+", " ", md)
    for size in range(1, 6):  # how often the last n-gram repeats back to back at the end, n = 1..5
        if len(text) < size:
            continue
        tail, count, pos = text[-size:], 0, len(text) - size
        while pos >= 0 and text[pos:pos + size] == tail:
            count += 1
            pos -= size
        if count > t.get("max_repeats", 30):
            return False, f"ends with {count} repeated {size}-grams"
    if t.get("check_disallowed_characters", True) and re.search(
            "[\u4e00-\u9fff\u3040-\u309f\u30a0-\u30ff\U0001F600-\U0001F64F\U0001F300-\U0001F5FF"
            "\U0001F680-\U0001F6FF\U0001F1E0-\U0001F1FF]", md):
        return False, "disallowed characters"
    return True, ""


def check_math(t: dict, md: str) -> tuple[bool, str]:
    patterns = [r"\\\((.+?)\\\)", r"\\\[(.+?)\\\]"]
    if not t.get("ignore_dollar_delimited", False):
        patterns += [r"\$\$(.+?)\$\$", r"\$(.+?)\$"]
    equations, rest = [], md
    for p in patterns:
        equations += [e.strip() for e in re.findall(p, rest, re.DOTALL)]
        rest = re.sub(p, "", rest, flags=re.DOTALL)
    want = t["math"]
    squash = re.compile(r"\s+")
    ok = any(e == want or squash.sub("", e) == squash.sub("", want) for e in equations)
    return ok, "" if ok else "no equation with this LaTeX (whitespace ignored; no KaTeX rendering)"


@dataclass
class Table:
    grid: list[list[str]]
    header_rows: set[int] = field(default_factory=set)
    header_cols: set[int] = field(default_factory=set)
    col_headers: dict[int, list[str]] = field(default_factory=dict)
    row_headers: dict[int, list[str]] = field(default_factory=dict)

    def cell(self, i: int, j: int) -> str:
        row = self.grid[i]
        return row[j] if j < len(row) else ""


def html_tables(content: str) -> list[Table]:
    from lxml import html as lhtml

    if "<table" not in content.lower():
        return []
    try:
        root = lhtml.fromstring(f"<div>{content}</div>")
    except Exception:  # noqa: BLE001 - unparseable markup has no tables
        return []
    out = []
    for table in root.iter("table"):
        rows = list(table.iter("tr"))
        taken: dict[tuple[int, int], str] = {}
        grid: list[list[str]] = []
        t = Table(grid)
        for i, tr in enumerate(rows):
            if tr.getparent() is not None and tr.getparent().tag == "thead":
                t.header_rows.add(i)
            cells = [c for c in tr if c.tag in ("td", "th")]
            if any(c.tag == "th" for c in cells):
                t.header_rows.add(i)
            row: list[str] = []
            j = 0
            for c in cells:
                while (i, j) in taken:
                    row.append(taken.pop((i, j)))
                    j += 1
                for br in c.iter("br"):
                    br.tail = "\n" + (br.tail or "")
                text = c.text_content().strip()
                rs, cs = int(c.get("rowspan", 1) or 1), int(c.get("colspan", 1) or 1)
                row.append(text)
                for a in range(rs):
                    for b in range(cs):
                        if a or b:
                            taken[(i + a, j + b)] = text if (b == 0 and a > 0) else ""
                if c.tag == "th":
                    for b in range(cs):
                        t.header_cols.add(j + b)
                        t.col_headers.setdefault(j + b, []).append(text)
                    for a in range(1, rs):
                        t.header_rows.add(i + a)
                j += cs
            while (i, j) in taken:
                row.append(taken.pop((i, j)))
                j += 1
            grid.append(row)
        for j in t.header_cols:
            for i, row in enumerate(grid):
                if j < len(row) and row[j].strip():
                    t.row_headers.setdefault(i, []).append(row[j])
        width = max((len(r) for r in grid), default=0)
        for r in grid:
            r.extend([""] * (width - len(r)))
        if grid:
            out.append(t)
    return out


def markdown_tables(content: str) -> list[Table]:
    out, block = [], []
    for line in content.strip().split("\n") + [""]:
        if "|" in line:
            block.append(line)
            continue
        if len(block) >= 2:
            rows = []
            for ln in block:
                ln = ln.strip()
                if re.fullmatch(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?", ln):
                    continue
                cells = [c.strip() for c in ln.strip("|").split("|")]
                rows.append(cells)
            if rows:
                width = max(len(r) for r in rows)
                grid = [r + [""] * (width - len(r)) for r in rows]
                t = Table(grid, {0}, {0} if width else set(),
                          {j: [grid[0][j]] for j in range(width)}, {i: [grid[i][0]] for i in range(1, len(grid))})
                out.append(t)
        block = []
    return out


def check_table(t: dict, md: str) -> tuple[bool, str]:
    want = normalize(t["cell"])
    dist = t.get("max_diffs", 0)
    threshold = max(0.5, _threshold(dist, want))
    tables = ([] if t.get("ignore_markdown_tables") else markdown_tables(md)) + html_tables(md)
    if not tables:
        return False, "no tables"

    def near(expected: str, got: str) -> bool:
        exp = normalize(expected)
        return fuzz.ratio(exp, normalize(got)) / 100.0 >= max(0.5, _threshold(dist, exp))

    def best(expected: str, candidates: list[str]) -> bool:
        return any(near(expected, c) for c in candidates)

    for tab in tables:
        n, m = len(tab.grid), len(tab.grid[0]) if tab.grid else 0
        for i in range(n):
            for j in range(m):
                if fuzz.ratio(want, normalize(tab.cell(i, j))) / 100.0 < threshold:
                    continue
                ok = True
                if t.get("up") and i > 0:
                    ok &= near(t["up"], tab.cell(i - 1, j))
                if t.get("down") and i < n - 1:
                    ok &= near(t["down"], tab.cell(i + 1, j))
                if t.get("left") and j > 0:
                    ok &= near(t["left"], tab.cell(i, j - 1))
                if t.get("right") and j < m - 1:
                    ok &= near(t["right"], tab.cell(i, j + 1))
                if t.get("top_heading"):
                    cands = tab.col_headers.get(j, []) + [tab.cell(r, j) for r in sorted(tab.header_rows) if r < i]
                    if not best(t["top_heading"], cands):
                        above = [tab.cell(r, j) for r in range(i) if tab.cell(r, j).strip()]
                        ok &= best(t["top_heading"], above)
                if t.get("left_heading"):
                    cands = tab.row_headers.get(i, []) + [tab.cell(i, c) for c in sorted(tab.header_cols) if c < j]
                    if not best(t["left_heading"], cands):
                        left = [tab.cell(i, c) for c in range(j) if tab.cell(i, c).strip()]
                        ok &= best(t["left_heading"], left)
                if ok:
                    return True, ""
    return False, f"no cell '{want[:30]}' with the expected neighbours"


CHECKS = {"present": check_presence, "absent": check_presence, "order": check_order, "table": check_table,
          "baseline": check_baseline, "math": check_math}


def run_test(t: dict, md: str) -> tuple[bool, str]:
    kind = t.get("type")
    if kind not in CHECKS:
        raise InputError(f"olmOCR-Bench test {t.get('id')!r}: unknown type {kind!r} (known: {', '.join(TYPES)})")
    return CHECKS[kind](t, md)


def load_tests(path: Path) -> list[dict]:
    tests = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UsageError(f"--olmocr-tests {path}: {e.strerror or e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            t = json.loads(line)
        except ValueError as e:
            raise InputError(f"{path}:{n}: not JSON ({e})") from None
        if not isinstance(t, dict) or "pdf" not in t or "type" not in t:
            raise InputError(f"{path}:{n}: not an olmOCR-Bench test (needs pdf, page, id, type)")
        tests.append(t)
    return tests


# -- vlparse pages as the Markdown the tests read ---------------------------------------------------------------
def bench_markdown(page) -> str:
    """One parsed page as Markdown for olmOCR-Bench (see the module docstring for the choices)."""
    parts = []
    for b in page.blocks:
        if b.type in DROPPED_TYPES:
            continue
        text = (b.text or "").strip()
        if b.type == "heading":
            level = b.attrs.get("level") if isinstance(b.attrs.get("level"), int) else 1
            parts.append("#" * max(1, min(6, level)) + " " + " ".join(text.split()))
        elif b.type == "table":
            parts.append(_html_table(b))
        elif b.type == "formula":
            latex = b.attrs.get("latex") or text
            parts.append(f"$$ {latex} $$" if latex else "")
        elif b.type == "code":
            parts.append(f"```\n{text}\n```")
        elif b.type == "list":
            items = b.attrs.get("items") or []
            lines = [(i.get("text") if isinstance(i, dict) else str(i)) for i in items] or text.split("\n")
            parts.append("\n".join(f"- {' '.join(x.split())}" for x in lines if x and x.strip()))
        elif b.type == "list_item":
            parts.append(f"- {' '.join(text.split())}")
        elif text:
            parts.append(" ".join(text.split()) if b.type not in ("figure", "chart") else text)
    return "\n\n".join(p for p in parts if p) + "\n"


def _html_table(block) -> str:
    from lxml import html as lhtml

    src = block.html or ""
    try:
        root = lhtml.fromstring(f"<div>{src}</div>")
        table = next(root.iter("table"), None)
    except Exception:  # noqa: BLE001
        table = None
    if table is None:
        rows = [r.split(" | ") for r in (block.text or "").split("\n") if r.strip()]
        body = "".join("<tr>" + "".join(f"<td>{htmllib.escape(c.strip())}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table>{body}</table>"
    out = []
    for tr in table.iter("tr"):
        cells = []
        for c in tr:
            if c.tag not in ("td", "th"):
                continue
            span = "".join(f' {k}="{int(c.get(k))}"' for k in ("rowspan", "colspan")
                           if (c.get(k) or "").isdigit() and int(c.get(k)) > 1)
            cells.append(f"<{c.tag}{span}>{htmllib.escape(' '.join(c.text_content().split()))}</{c.tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(out) + "</table>"


def score_olmocr(test_files: list[Path], run: Path) -> dict:
    """Score a ``vlparse doc -o RUN`` run (document JSON) against olmOCR-Bench tests: per type, per test file,
    and overall as olmOCR-Bench reports it (the mean of the per-file pass rates)."""
    from vlparse.eval.selfbench import load_run

    docs = load_run(run)
    results = []
    per_file = {}
    for f in test_files:
        mine = []
        for t in load_tests(f):
            doc = docs.get(Path(t["pdf"]).name)
            page = next((p for p in doc.pages if p.info.page == int(t.get("page", 1))), None) if doc else None
            if page is None:
                mine.append({"id": t.get("id"), "type": t["type"], "file": f.name, "passed": False,
                             "reason": "no parsed page for this test"})
                continue
            ok, why = run_test(t, bench_markdown(page))
            mine.append({"id": t.get("id"), "type": t["type"], "file": f.name, "passed": ok, "reason": why})
        if mine:
            per_file[f.name] = round(sum(r["passed"] for r in mine) / len(mine), 4)
        results += mine
    by_type = {}
    for kind in TYPES:
        rs = [r for r in results if r["type"] == kind]
        if rs:
            by_type[kind] = round(sum(r["passed"] for r in rs) / len(rs), 4)
    # olmOCR-Bench's score: the mean of the per-file pass rates
    score = round(sum(per_file.values()) / len(per_file), 4) if per_file else None
    return {"olmocr_version": OLMOCR_VERSION, "overall": {"score": score, "tests": len(results), **by_type},
            "files": per_file, "tests": results}
