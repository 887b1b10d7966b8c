"""Cost of verification against the text layer, per page, as a share of rendering the page for the model.

For each page of a dense text PDF (a heading and eight paragraphs, ~530 words, or ``--pdf FILE``), times (fastest of ``--repeat`` rounds, each over all pages):

- rendering at the Qwen2.5-VL document size (what ``vlparse doc`` does before the model),
- reading the text layer (``PdfSource.text_layer``: words, invisible-text check),
- verifying a page result with one block per PyMuPDF text block (a correct answer of realistic size).

    python benchmarks/verify_cost.py [--pages 40] [--pdf FILE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pymupdf  # noqa: E402

from vlparse.core.families import QWEN2_5_VL  # noqa: E402
from vlparse.core.geometry import Budget  # noqa: E402
from vlparse.core.results import Block, PageResult  # noqa: E402
from vlparse.pages.render import PDF_LOCK, open_source  # noqa: E402
from vlparse.parse.verify import verify_page  # noqa: E402


SENTENCE = ("Revenue grew over the second quarter, driven by the new spectrometer line. Operating costs stayed flat "
            "while the order backlog reached a record high. ")


def make_text_pdf(path: Path, pages: int) -> None:
    """Dense A4 text pages: a heading and 8 paragraphs of ~65 words (every insert checked to fit)."""
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=595, height=842)
        assert page.insert_textbox(pymupdf.Rect(56, 56, 539, 100), f"Section {i + 1}", fontsize=22,
                                   fontname="hebo") >= 0
        for k in range(8):
            assert page.insert_textbox(pymupdf.Rect(56, 110 + 85 * k, 539, 190 + 85 * k), SENTENCE * 3,
                                       fontsize=9) >= 0
    doc.save(str(path))


def answer_blocks(src, number: int, info) -> list[Block]:
    """One paragraph block per text block of the page, boxes in bbox_pt (a correct answer's size and shape)."""
    with PDF_LOCK:
        page = src.doc[number - 1]
        blocks = page.get_text("blocks")
        m = page.rotation_matrix
    out = []
    for x0, y0, x1, y1, text, _, kind in blocks:
        if kind != 0:
            continue
        r = pymupdf.Rect(x0, y0, x1, y1) * m
        box = [r.x0 - 2, r.y0 - 2, r.x1 + 2, r.y1 + 2]
        out.append(Block("paragraph", " ".join(text.split()), bbox_pt=box,
                         bbox_px=[v / info.frame.pt_per_px_x for v in box]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--pdf", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    pdf = args.pdf
    if pdf is None:
        pdf = Path(tempfile.mkdtemp(prefix="vlparse-verify-bench-")) / "bench.pdf"
        make_text_pdf(pdf, args.pages)
    budget = Budget(QWEN2_5_VL.default_min_pixels(), QWEN2_5_VL.default_max_pixels("doc"))
    best = {"render": float("inf"), "layer": float("inf"), "verify": float("inf")}
    words = blocks_n = 0
    with open_source(str(pdf)) as src:
        n = src.page_count
        for _ in range(args.repeat):
            t = {"render": 0.0, "layer": 0.0, "verify": 0.0}
            words = blocks_n = 0
            for i in range(1, n + 1):
                t0 = time.process_time()
                page = src.page(i, QWEN2_5_VL, budget)
                t1 = time.process_time()
                layer = src.text_layer(i)
                t2 = time.process_time()
                blocks = answer_blocks(src, i, page.info)
                res = PageResult(page.info, blocks=blocks)
                t3 = time.process_time()
                verify_page(res, layer.words)
                t4 = time.process_time()
                t["render"] += t1 - t0
                t["layer"] += t2 - t1
                t["verify"] += t4 - t3
                words += len(layer.words)
                blocks_n += len(blocks)
            best = {k: min(best[k], t[k]) for k in best}
    per = {k: 1000 * v / n for k, v in best.items()}
    cost = per["layer"] + per["verify"]
    print(f"{n} pages ({words / n:.0f} words, {blocks_n / n:.0f} blocks per page), fastest of {args.repeat} rounds")
    print("| stage | CPU ms per page |")
    print("|---|---|")
    print(f"| rendering for the model (Qwen2.5-VL doc size) | {per['render']:.2f} |")
    print(f"| reading the text layer | {per['layer']:.2f} |")
    print(f"| verifying the blocks | {per['verify']:.2f} |")
    print(f"| verification total | {cost:.2f} ({100 * cost / per['render']:.1f}% of rendering) |")


if __name__ == "__main__":
    main()
