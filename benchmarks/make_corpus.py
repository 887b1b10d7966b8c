"""Build the evaluation corpus: 30 born-digital pages in 6 PDFs, plus recorded answers for them.

    python benchmarks/make_corpus.py            # writes benchmarks/corpus/*.pdf and corpus/answers.jsonl

Every PDF is generated here with PyMuPDF from text written for this corpus (no third-party text: the
corpus is under the project's licence, see benchmarks/corpus/LICENSES.md). Layouts: one column, two columns,
tables, formulas (display lines of text), rotated pages (/Rotate 90), and five simple pages (handref.pdf)
whose reference answers in corpus/refs/handref.json were written by hand.

``answers.jsonl`` holds one QwenVL HTML answer per page in Qwen3-VL's format (0-1000 relative boxes), written
from the layout this script chose (the blocks it placed and the area their text filled), NOT from a model and
NOT from the text layer: ``vlparse eval benchmarks/corpus --from-run RUN`` on a ``doc`` run of these answers
checks the plumbing and gives the score of a near-perfect parse.
"""

from __future__ import annotations

import html
import json
import random
from pathlib import Path

import pymupdf

OUT = Path(__file__).parent / "corpus"
W, H = 595.0, 842.0

WORDS = ("river stone signal quarter market ledger harbour metric engine sample vector window garden "
         "copper module record filter spectrum lattice beacon orbit meadow canvas anchor summit pocket "
         "timber silver column thread marble rhythm tunnel valley".split())


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def paragraph(rng: random.Random, sentences: int = 3) -> str:
    return " ".join(sentence(rng, rng.randint(7, 12)) for _ in range(sentences))


class PageWriter:
    """Places blocks on a page and remembers them (type, text, box in the unrotated page) for the answer."""

    def __init__(self, doc, rotation: int = 0):
        self.page = doc.new_page(width=W, height=H)
        self.rotation = rotation
        self.blocks: list[tuple[str, str, pymupdf.Rect, str]] = []  # (tag, text, rect, inner html)

    def text(self, tag: str, text: str, rect, size: float = 10, font: str = "helv") -> None:
        rect = pymupdf.Rect(rect)
        left = self.page.insert_textbox(rect, text, fontsize=size, fontname=font)
        assert left >= 0, f"text does not fit in {rect}: {text[:40]}"
        # the area the text fills, from the font's metrics: one line is as wide as the text, a wrapped
        # paragraph as the box; from the top of the box down to the last line's descent
        width = pymupdf.get_text_length(text, fontname=font, fontsize=size)
        x1 = min(rect.x1, rect.x0 + width)
        used = pymupdf.Rect(rect.x0, rect.y0 + size * 0.1, x1, rect.y1 - left - size * 0.15)
        self.blocks.append((tag, text, used, html.escape(text)))

    def table(self, rows: list[list[str]], rect) -> None:
        rect = pymupdf.Rect(rect)
        n, m = len(rows), len(rows[0])
        ch, cw = rect.height / n, rect.width / m
        for i in range(n + 1):
            self.page.draw_line((rect.x0, rect.y0 + i * ch), (rect.x1, rect.y0 + i * ch), width=0.5)
        for j in range(m + 1):
            self.page.draw_line((rect.x0 + j * cw, rect.y0), (rect.x0 + j * cw, rect.y1), width=0.5)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                self.page.insert_text((rect.x0 + j * cw + 4, rect.y0 + i * ch + ch * 0.68), cell, fontsize=9,
                                      fontname="hebo" if i == 0 else "helv")
        body = "".join("<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{html.escape(c)}</{'th' if i == 0 else 'td'}>"
                                        for c in row) + "</tr>" for i, row in enumerate(rows))
        self.blocks.append(("table", " ".join(" ".join(r) for r in rows), rect, body))

    def finish(self) -> str:
        if self.rotation:
            self.page.set_rotation(self.rotation)
        m = self.page.rotation_matrix
        disp = self.page.rect
        parts = []
        for tag, _, rect, inner in self.blocks:
            r = rect * m
            r.normalize()
            box = " ".join(str(round(v)) for v in (r.x0 / disp.width * 1000, r.y0 / disp.height * 1000,
                                                   r.x1 / disp.width * 1000, r.y1 / disp.height * 1000))
            if tag == "formula":
                parts.append(f'<div class="formula" data-bbox="{box}"><div>{inner}</div></div>')
            elif tag == "table":
                parts.append(f'<table data-bbox="{box}">{inner}</table>')
            else:
                parts.append(f'<{tag} data-bbox="{box}">{inner}</{tag}>')
        return "<html><body>\n" + "\n".join(parts) + "\n</body></html>"


def one_column(doc, rng, answers, k):
    pw = PageWriter(doc)
    pw.text("h1", f"Chapter {k}: {sentence(rng, 3)[:-1]}", (72, 60, 523, 90), size=16, font="hebo")
    y = 100
    for _ in range(4):
        pw.text("p", paragraph(rng), (72, y, 523, y + 110))
        y += 130
    answers.append(pw.finish())


def two_column(doc, rng, answers, k):
    pw = PageWriter(doc)
    pw.text("h1", f"Section {k}: {sentence(rng, 3)[:-1]}", (56, 56, 539, 86), size=16, font="hebo")
    for x0, x1 in ((56, 288), (307, 539)):
        y = 100
        for _ in range(3):
            pw.text("p", paragraph(rng, 2), (x0, y, x1, y + 150))
            y += 170
    answers.append(pw.finish())


def tables(doc, rng, answers, k):
    pw = PageWriter(doc)
    pw.text("h2", f"Table {k}: {rng.choice(WORDS)} figures", (72, 60, 523, 84), size=13, font="hebo")
    rows = [["Item", "North", "South", "Total"]]
    for _ in range(5):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        rows.append([rng.choice(WORDS), str(a), str(b), str(a + b)])
    pw.table(rows, (72, 100, 472, 100 + 22 * len(rows)))
    pw.text("p", paragraph(rng), (72, 260, 523, 380))
    answers.append(pw.finish())


def formulas(doc, rng, answers, k):
    pw = PageWriter(doc)
    pw.text("h2", f"Model {k}", (72, 60, 523, 84), size=13, font="hebo")
    pw.text("p", paragraph(rng, 2), (72, 100, 523, 180))
    pw.text("formula", f"x = {k}a + b / c", (200, 200, 400, 222), size=12, font="tiro")
    pw.text("p", paragraph(rng, 2), (72, 240, 523, 320))
    answers.append(pw.finish())


def rotated(doc, rng, answers, k):
    pw = PageWriter(doc, rotation=90 if k % 2 else 0)
    pw.text("h2", f"Rotated page {k}", (72, 60, 523, 84), size=13, font="hebo")
    pw.text("p", paragraph(rng), (72, 100, 523, 220))
    answers.append(pw.finish())


HANDREF = [  # the five pages of handref.pdf: (heading, paragraph 1, paragraph 2); refs/handref.json is typed by hand
    ("Harbour report", "The harbour opened at dawn and the first boats left before six.",
     "Twelve boats came back with a full load by noon."),
    ("Garden notes", "Plant the beans in April and the squash in May.",
     "Water the seedlings every second day."),
    ("Engine log", "The engine ran for four hours without a fault.",
     "Oil pressure stayed between two and three bar."),
    ("Library hours", "The library is open from nine to five on weekdays.",
     "On Saturdays it closes at one."),
    ("Summit route", "Start at the meadow and follow the river to the old stone bridge.",
     "From the bridge the path climbs to the summit in two hours."),
]


def handref(doc, answers, k):
    head, p1, p2 = HANDREF[k - 1]
    pw = PageWriter(doc)
    pw.text("h1", head, (72, 72, 523, 108), size=18, font="hebo")
    pw.text("p", p1, (72, 120, 523, 150), size=12)
    pw.text("p", p2, (72, 160, 523, 190), size=12)
    answers.append(pw.finish())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []
    plan = [("one_column", 6, one_column), ("two_column", 5, two_column), ("tables", 5, tables),
            ("formulas", 5, formulas), ("rotated", 4, rotated)]
    for stem, pages, fn in plan:
        rng = random.Random(stem)
        doc = pymupdf.open()
        answers: list[str] = []
        for k in range(1, pages + 1):
            fn(doc, rng, answers, k)
        doc.set_metadata({"title": f"vlparse eval corpus: {stem}", "creationDate": "D:20260101000000Z",
                          "modDate": "D:20260101000000Z"})
        doc.save(str(OUT / f"{stem}.pdf"), garbage=3, deflate=True, no_new_id=True)
        lines += [{"source": f"{stem}.pdf", "page": n, "output": a} for n, a in enumerate(answers, 1)]
    doc = pymupdf.open()
    answers = []
    for k in range(1, len(HANDREF) + 1):
        handref(doc, answers, k)
    doc.set_metadata({"title": "vlparse eval corpus: handref", "creationDate": "D:20260101000000Z",
                      "modDate": "D:20260101000000Z"})
    doc.save(str(OUT / "handref.pdf"), garbage=3, deflate=True, no_new_id=True)
    lines += [{"source": "handref.pdf", "page": n, "output": a} for n, a in enumerate(answers, 1)]
    (OUT / "answers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    print(f"{len(lines)} pages in {len(plan) + 1} PDFs under {OUT}")


if __name__ == "__main__":
    main()
