"""Build examples/invoice.pdf (a 3-page invoice) and sample extraction answers in each family's format.

The answers are NOT model output: this script writes them from the PDF's own layout, in the shape
``vlparse extract`` asks for (``prompts/<family>/extract.toml``: every value as ``{"value": ...,
"bbox_2d": [...]}``), with each family's coordinates for the page as vlparse renders it by default:
Qwen2.5-VL in absolute pixels of the resized page image, Qwen3-VL in 0..1000 of the page. They let anyone
without a GPU run ``vlparse extract examples/invoice.pdf --schema examples/invoice.schema.json --family
qwen2.5-vl --from-output examples/answers/qwen2.5-vl/invoice-extract.jsonl``.

Run from the repository root: ``python examples/make_invoice.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf

from vlparse.core.families import QWEN2_5_VL, QWEN3_VL
from vlparse.core.geometry import Budget
from vlparse.pages.render import page_target_size

HERE = Path(__file__).parent
W, H = 595, 842  # A4 in points

# (field or None, rect in points, text, font size); a field's rect is its evidence box
PAGES = [
    [
        (None, (56, 50, 300, 80), "INVOICE", 22),
        ("vendor", (56, 90, 300, 106), "Northwind Instruments GmbH", 11),
        (None, (340, 90, 436, 106), "Invoice number:", 10),
        ("invoice_number", (440, 90, 540, 106), "INV-2024-0042", 10),
        (None, (340, 110, 436, 126), "Invoice date:", 10),
        ("invoice_date", (440, 110, 540, 126), "05/03/2024", 10),
        (None, (56, 140, 400, 156), "Bill to: Contoso Ltd, 1 Harbour Road, Dublin", 10),
        (None, (56, 190, 330, 206), "Description", 10),
        (None, (340, 190, 400, 206), "Qty", 10),
        (None, (440, 190, 540, 206), "Amount", 10),
        ("line_items.0.description", (56, 212, 330, 228), "Handheld spectrometer", 10),
        ("line_items.0.quantity", (340, 212, 400, 228), "2", 10),
        ("line_items.0.amount", (440, 212, 540, 228), "1,980.00", 10),
        ("line_items.1.description", (56, 232, 330, 248), "Calibration kit", 10),
        ("line_items.1.quantity", (340, 232, 400, 248), "1", 10),
        ("line_items.1.amount", (440, 232, 540, 248), "249.50", 10),
        (None, (56, 800, 540, 814), "Page 1 of 3", 8),
    ],
    [
        (None, (56, 50, 540, 66), "Invoice INV-2024-0042 (continued)", 10),
        (None, (56, 90, 330, 106), "Description", 10),
        (None, (340, 90, 400, 106), "Qty", 10),
        (None, (440, 90, 540, 106), "Amount", 10),
        ("line_items.0.description", (56, 112, 330, 128), "Shipping", 10),
        ("line_items.0.quantity", (340, 112, 400, 128), "1", 10),
        ("line_items.0.amount", (440, 112, 540, 128), "45.00", 10),
        (None, (340, 160, 436, 176), "Total due:", 10),
        ("total", (440, 160, 540, 176), "EUR 2,274.50", 10),
        (None, (340, 180, 436, 196), "Due date:", 10),
        ("due_date", (440, 180, 540, 196), "4 April 2024", 10),
        (None, (56, 800, 540, 814), "Page 2 of 3", 8),
    ],
    [
        (None, (56, 50, 540, 70), "Terms and conditions", 14),
        (None, (56, 80, 540, 130), "Payment within 30 days of the invoice date by bank transfer. Late payments "
                                   "carry interest at the statutory rate.", 10),
        (None, (56, 800, 540, 814), "Page 3 of 3", 8),
    ],
]
SCALARS = ("invoice_number", "invoice_date", "vendor", "total", "due_date")


def _answer(items, sx: float, sy: float, title: str) -> str:
    obj: dict = {name: None for name in SCALARS}
    rows: dict[int, dict] = {}
    for name, rect, text, _ in items:
        if name is None:
            continue
        box = [round(rect[0] * sx), round(rect[1] * sy), round(rect[2] * sx), round(rect[3] * sy)]
        ev = {"value": text, "bbox_2d": box}
        if name.startswith("line_items."):
            _, row, col = name.split(".")
            rows.setdefault(int(row), {})[col] = ev
        else:
            obj[name] = ev
    obj["line_items"] = [rows[i] for i in sorted(rows)]
    return "```json\n" + json.dumps(obj, ensure_ascii=False, indent=2) + "\n```"


def main() -> None:
    doc = pymupdf.open()
    doc.set_metadata({"title": "vlparse sample: invoice", "author": "vlparse examples"})
    for items in PAGES:
        page = doc.new_page(width=W, height=H)
        for name, rect, text, size in items:
            font = "hebo" if size >= 14 or text in ("Description", "Qty", "Amount") else "helv"
            draw = pymupdf.Rect(rect[0], rect[1], rect[2], rect[3] + size * 0.5)  # room below for the line height
            if page.insert_textbox(draw, text, fontsize=size, fontname=font) < 0:
                raise SystemExit(f"invoice layout: {text[:30]!r} does not fit {rect}")
    doc.save(str(HERE / "invoice.pdf"), garbage=4, deflate=True)
    for fam in (QWEN2_5_VL, QWEN3_VL):
        budget = Budget(fam.default_min_pixels(), fam.default_max_pixels("doc"))
        pw, ph = page_target_size(fam, W, H, budget)
        sx, sy = (pw / W, ph / H) if fam is QWEN2_5_VL else (1000 / W, 1000 / H)
        lines = [json.dumps({"page": i, "output": _answer(items, sx, sy, fam.title)}, ensure_ascii=False)
                 for i, items in enumerate(PAGES, 1)]
        target = HERE / "answers" / fam.name / "invoice-extract.jsonl"
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'invoice.pdf'} and extraction answers for qwen2.5-vl, qwen3-vl")


if __name__ == "__main__":
    main()
