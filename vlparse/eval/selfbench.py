"""Self-benchmark: score ``doc`` results on born-digital PDFs against ground truth built from each page's own
text layer (its lines, their order and boxes), or against hand-written reference answers where given.

Ground truth per page, first found wins:

1. a reference file ``REFS/<pdf stem>.json``: ``{"pages": {"1": [{"text": ..., "bbox_pt": [x0, y0, x1, y1]},
   ...]}}`` (blocks in reading order, boxes in points of the displayed page, top-left origin);
2. the page's text layer: one unit per PyMuPDF line (words joined by spaces, the line's extent, stream order).

Pages with no text layer and no reference are reported as ``unscored``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vlparse.core.errors import InputError, UsageError
from vlparse.core.results import FAILED, Document
from vlparse.eval.metrics import Unit, mean_metrics, page_metrics


def layer_units(layer) -> list[Unit]:
    """One unit per line of a :class:`~vlparse.pages.textlayer.TextLayer` (stream order)."""
    lines: dict[tuple[int, int], list] = {}
    for w in layer.words:
        lines.setdefault((w.block, w.line), []).append(w)
    out = []
    for ws in lines.values():
        out.append(Unit(" ".join(w.text for w in ws), (min(w.bbox_pt[0] for w in ws), min(w.bbox_pt[1] for w in ws),
                                                      max(w.bbox_pt[2] for w in ws), max(w.bbox_pt[3] for w in ws))))
    return out


def reference_units(ref: dict, page: int) -> list[Unit] | None:
    blocks = (ref.get("pages") or {}).get(str(page))
    if blocks is None:
        return None
    return [Unit(b["text"], tuple(b["bbox_pt"])) for b in blocks]


def load_reference(refs: Path | None, pdf: Path) -> dict | None:
    if refs is None:
        return None
    path = refs / f"{pdf.stem}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"{path}: not a reference answer file ({e})") from None


def load_run(run_dir: Path) -> dict[str, Document]:
    """The document results of a ``vlparse doc -o DIR`` run, by the source file's name."""
    if not run_dir.is_dir():
        raise UsageError(f"--from-run {run_dir}: not a directory (give the -o DIR of a vlparse doc run)")
    docs: dict[str, Document] = {}
    for path in sorted(run_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(data, dict) and "pages" in data and "source" in data:
            doc = Document.from_dict(data)
            docs[Path(doc.source).name] = doc
    if not docs:
        raise UsageError(f"{run_dir}: no vlparse document JSON (run vlparse doc ... -o {run_dir} --json first)")
    return docs


@dataclass
class DocScore:
    source: str
    pages: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        scored = [p for p in self.pages if "text" in p]
        return {"source": self.source, **mean_metrics(scored), "page_scores": self.pages}


def score_run(pdfs: list[Path], docs: dict[str, Document], refs: Path | None = None) -> dict:
    """Score each PDF's pages in ``docs`` against its ground truth; per document and overall."""
    from vlparse.pages.render import PageError, open_source

    out_docs = []
    all_pages: list[dict] = []
    families, models, sizes = set(), set(), set()
    for pdf in pdfs:
        doc = docs.get(pdf.name)
        ref = load_reference(refs, pdf)
        ds = DocScore(str(pdf))
        if doc is None:
            ds.pages.append({"page": None, "status": "missing", "error": "no result for this document in the run"})
            out_docs.append(ds.to_dict())
            continue
        families.add(doc.family)
        models.add(doc.model)
        with open_source(str(pdf)) as src:
            for page in doc.pages:
                row: dict = {"page": page.info.page, "status": page.status}
                if page.status == FAILED:
                    row["error"] = page.error
                    ds.pages.append(row)
                    continue
                sizes.add(f"{page.info.frame.model_width}x{page.info.frame.model_height}")
                units = reference_units(ref, page.info.page) if ref else None
                truth = "reference" if units is not None else "text layer"
                if units is None:
                    try:
                        layer = src.text_layer(page.info.page)
                    except PageError as e:
                        row.update(status="unscored", error=e.message)
                        ds.pages.append(row)
                        continue
                    if not layer.has_text:
                        row.update(status="unscored", error=f"no text layer ({layer.kind.value})")
                        ds.pages.append(row)
                        continue
                    units = layer_units(layer)
                row.update(truth=truth, **page_metrics(units, page.blocks))
                ds.pages.append(row)
                all_pages.append(row)
        out_docs.append(ds.to_dict())
    return {"family": sorted(families), "model": sorted(models), "model_image_sizes": sorted(sizes),
            "documents": out_docs, "overall": mean_metrics(all_pages)}


def list_pdfs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"{path}: no such file or directory")
    pdfs = sorted(p for p in path.rglob("*.pdf") if p.is_file())
    if not pdfs:
        raise UsageError(f"{path}: no PDF in it")
    return pdfs
