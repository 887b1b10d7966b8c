"""Build examples/sample.pdf and sample answers in each document-parsing family's format.

The answers are NOT model output: this script writes them from the PDF's own layout, in the
shape a Qwen model answers in ("QwenVL HTML": one ``<html><body>`` with a ``data-bbox`` on every
block), with each family's coordinates for the page as vlparse renders it by default:
Qwen2.5-VL in absolute pixels of the resized page image, Qwen3-VL in 0..1000 of the page.
They let anyone without a GPU run the whole pipeline: ``vlparse doc examples/sample.pdf
--family qwen2.5-vl --from-output examples/answers/qwen2.5-vl/sample-pdf --html --md``.

Run from the repository root: ``python examples/make_sample.py``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pymupdf

from vlparse.core.families import QWEN2_5_VL, QWEN3_VL
from vlparse.core.geometry import Budget
from vlparse.pages.render import page_target_size

HERE = Path(__file__).parent
W, H = 595, 842  # A4 in points

PAGES = [
    [  # (kind, rect in points, text or payload)
        ("header", (56, 28, 539, 44), "Northwind Instruments - Quarterly Report Q3"),
        ("h1", (56, 52, 539, 92), "Quarterly Report: Third Quarter"),
        ("p", (56, 104, 539, 170), "Revenue grew 12% over the second quarter, driven by the new spectrometer line. "
                                    "Operating costs stayed flat while the order backlog reached a record high. "
                                    "The table below summarises the figures per region."),
        ("table", (56, 184, 539, 284), [["Region", "Q2", "Q3", "Change"], ["North", "4.1", "4.6", "+12%"],
                                        ["South", "3.2", "3.5", "+9%"], ["Total", "7.3", "8.1", "+11%"]]),
        ("p", (56, 290, 539, 310), "Table 1: Revenue per region, in millions of euros."),
        ("h2", (56, 318, 539, 346), "Growth model"),
        ("p", (56, 350, 539, 392), "We model revenue with compound growth, where r is the quarterly growth rate "
                                    "and n the number of quarters:"),
        ("formula", (200, 400, 395, 428), r"R_n = R_0 (1 + r)^n"),
        ("chart", (56, 446, 539, 646), [("Q1", 6.1), ("Q2", 7.3), ("Q3", 8.1)]),
        ("p", (56, 652, 539, 672), "Figure 1: Revenue per quarter, in millions of euros."),
        ("footer", (56, 798, 400, 814), "Northwind Instruments - confidential"),
        ("page_number", (510, 798, 539, 814), "1"),
    ],
    [
        ("h2", (56, 54, 539, 82), "Outlook"),
        ("p", (56, 90, 539, 132), "For the fourth quarter we expect continued growth. Three priorities guide the "
                                   "plan:"),
        ("ol", (72, 140, 539, 200), ["Ship the handheld spectrometer in October.", "Open the Lyon service centre.",
                                     "Cut delivery times to five working days."]),
        ("p", (56, 214, 539, 256), "Risks remain in the supply of detector chips; a second supplier has been "
                                    "qualified and will deliver from November."),
        ("page_number", (510, 798, 539, 814), "2"),
    ],
]


def _fit(page: pymupdf.Page, rect, text: str, **kw) -> None:
    if page.insert_textbox(rect, text, **kw) < 0:  # PyMuPDF writes nothing when the text does not fit
        raise SystemExit(f"sample layout: {text[:30]!r} does not fit {rect}")


def _draw(page: pymupdf.Page, kind: str, rect, payload) -> None:
    r = pymupdf.Rect(*rect)
    if kind in ("h1", "h2"):
        _fit(page, r, payload, fontsize=22 if kind == "h1" else 15, fontname="hebo")
    elif kind in ("p", "header", "footer", "page_number"):
        size = 8 if kind in ("header", "footer", "page_number") else 11
        align = pymupdf.TEXT_ALIGN_RIGHT if kind == "page_number" else pymupdf.TEXT_ALIGN_LEFT
        _fit(page, r, payload, fontsize=size, fontname="helv", align=align)
    elif kind == "formula":
        page.insert_htmlbox(r, "<p style='font-family:serif;font-size:17px;font-style:italic;text-align:center'>"
                               "R<sub>n</sub> = R<sub>0</sub> (1 + r)<sup>n</sup></p>")
    elif kind == "table":
        rows = payload
        rh = r.height / len(rows)
        cw = r.width / len(rows[0])
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                cell_rect = pymupdf.Rect(r.x0 + j * cw, r.y0 + i * rh, r.x0 + (j + 1) * cw, r.y0 + (i + 1) * rh)
                page.draw_rect(cell_rect, color=(0.4, 0.4, 0.4), width=0.5)
                _fit(page, cell_rect + (4, 5, -4, 0), cell, fontsize=10,
                                    fontname="hebo" if i == 0 else "helv")
    elif kind == "chart":
        page.draw_rect(r, color=(0.6, 0.6, 0.6), width=0.5)
        top = max(v for _, v in payload)
        bw = r.width / (2 * len(payload) + 1)
        for i, (label, value) in enumerate(payload):
            x0 = r.x0 + (2 * i + 1) * bw
            bar = pymupdf.Rect(x0, r.y1 - 20 - (r.height - 40) * value / top, x0 + bw, r.y1 - 20)
            page.draw_rect(bar, color=None, fill=(0.2, 0.4, 0.8))
            page.insert_text((x0 + bw / 2 - 6, r.y1 - 6), label, fontsize=9)
    elif kind == "ol":
        y = r.y0
        for i, item in enumerate(payload, 1):
            _fit(page, pymupdf.Rect(r.x0, y, r.x1, y + 20), f"{i}. {item}", fontsize=11, fontname="helv")
            y += 20


def _box(rect, scale_x: float, scale_y: float) -> str:
    x0, y0, x1, y1 = rect
    return f"{round(x0 * scale_x)} {round(y0 * scale_y)} {round(x1 * scale_x)} {round(y1 * scale_y)}"


def _html(blocks, scale_x: float, scale_y: float, title: str) -> str:
    out = []
    for kind, rect, payload in blocks:
        bb = f'data-bbox="{_box(rect, scale_x, scale_y)}"'
        if kind in ("h1", "h2", "p"):
            out.append(f"<{kind} {bb}>{escape(payload)}</{kind}>")
        elif kind in ("header", "footer"):
            out.append(f'<{kind} {bb}>{escape(payload)}</{kind}>')
        elif kind == "page_number":
            out.append(f'<div class="page-number" {bb}>{escape(payload)}</div>')
        elif kind == "formula":
            out.append(f'<div class="formula" {bb}><img {bb}/><div>{escape(payload)}</div></div>')
        elif kind == "table":
            head, *body = payload
            rows = "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in head) + "</tr>"
            rows += "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body)
            out.append(f'<table class="table1" {bb}>{rows}</table>')
        elif kind == "chart":
            data = "".join(f"<tr><td>{q}</td><td>{v}</td></tr>" for q, v in payload)
            out.append(f'<div class="chart" {bb}><img {bb}/><table><tr><th>Quarter</th><th>Revenue</th></tr>'
                       f"{data}</table></div>")
        elif kind == "ol":
            items = "".join(f"<li>{escape(x)}</li>" for x in payload)
            out.append(f"<ol {bb}>{items}</ol>")
    note = (f"Not model output: a sample answer in {title}'s QwenVL HTML format, written by examples/make_sample.py "
            "from the PDF's own layout.\n")
    return note + "```html\n<html><body>\n" + "\n".join(out) + "\n</body></html>\n```\n"


def main() -> None:
    doc = pymupdf.open()
    doc.set_metadata({"title": "vlparse sample: quarterly report", "author": "vlparse examples"})
    for blocks in PAGES:
        page = doc.new_page(width=W, height=H)
        for kind, rect, payload in blocks:
            _draw(page, kind, rect, payload)
    doc.save(str(HERE / "sample.pdf"), garbage=4, deflate=True)
    for fam in (QWEN2_5_VL, QWEN3_VL):
        budget = Budget(fam.default_min_pixels(), fam.default_max_pixels("doc"))
        pw, ph = page_target_size(fam, W, H, budget)
        if fam is QWEN2_5_VL:  # absolute pixels of the image the model saw
            sx, sy = pw / W, ph / H
        else:  # 0..1000 of the image
            sx, sy = 1000 / W, 1000 / H
        folder = HERE / "answers" / fam.name / "sample-pdf"
        folder.mkdir(parents=True, exist_ok=True)
        for i, blocks in enumerate(PAGES, 1):
            (folder / f"page-{i}.html").write_text(_html(blocks, sx, sy, fam.title), encoding="utf-8")
    print(f"wrote {HERE / 'sample.pdf'} and answers for qwen2.5-vl, qwen3-vl")


if __name__ == "__main__":
    main()
