"""``vlparse eval``: run ``doc`` when asked, score with :mod:`vlparse.eval`, print a table on a terminal or JSON
otherwise, gate on ``--min-score``."""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vlparse.core.errors import EXIT_OK, EXIT_PARTIAL, UsageError
from vlparse.run import console


@dataclass
class EvalOptions:
    inputs: str  # a PDF or a directory of PDFs (self-benchmark), or of olmOCR-Bench PDFs
    from_run: str | None = None
    compare: tuple[str, str] | None = None
    refs: str | None = None
    olmocr_tests: list[str] = field(default_factory=list)
    coco_gt: str | None = None
    output: str | None = None  # where a model run writes its results (default: a temporary directory)
    min_score: float | None = None
    json_out: bool = False
    doc_options: object = None  # vlparse.core.options.DocOptions for running doc here (no --from-run)


def _refs_dir(opts: EvalOptions, root: Path) -> Path | None:
    if opts.refs:
        refs = Path(opts.refs)
        if not refs.is_dir():
            raise UsageError(f"--refs {refs}: not a directory")
        return refs
    default = (root if root.is_dir() else root.parent) / "refs"
    return default if default.is_dir() else None


def _run_doc(opts: EvalOptions, pdfs: list[Path], formats: list[str]) -> Path:
    from vlparse.run.doc import run_doc

    out = Path(opts.output) if opts.output else Path(tempfile.mkdtemp(prefix="vlparse-eval-"))
    d = dataclasses.replace(opts.doc_options, inputs=[str(p) for p in pdfs], output=str(out), formats=formats)
    code = run_doc(d)
    if code not in (EXIT_OK, EXIT_PARTIAL):
        raise UsageError(f"the doc run for the evaluation failed (exit code {code})")
    return out


def run_eval(opts: EvalOptions) -> int:
    root = Path(opts.inputs)
    if opts.coco_gt:
        from vlparse.eval.grounding import score_grounding

        if not opts.from_run:
            raise UsageError("--coco-gt needs --from-run FILE (vlparse ground --jsonl output or a COCO result file)")
        report = {"kind": "grounding", **score_grounding(opts.coco_gt, opts.from_run)}
        return _emit(report, opts, ["AP", "AP50", "AP75", "AR1", "AR10", "AR100"], "AP")
    if opts.olmocr_tests:
        from vlparse.eval.olmocr_bench import score_olmocr

        run = Path(opts.from_run) if opts.from_run else _run_doc(opts, _pdfs_for(root), ["json", "md"])
        report = {"kind": "olmocr-bench", **score_olmocr([Path(t) for t in opts.olmocr_tests], run)}
        return _emit(report, opts, None, "score")
    from vlparse.eval.selfbench import list_pdfs, load_run, score_run

    pdfs = list_pdfs(root)
    refs = _refs_dir(opts, root)
    if opts.compare:
        runs = [Path(r) for r in opts.compare]
        reports = [score_run(pdfs, load_run(r), refs) | {"run": str(r)} for r in runs]
        report = {"kind": "compare", "runs": reports}
    else:
        run = Path(opts.from_run) if opts.from_run else _run_doc(opts, pdfs, ["json"])
        report = {"kind": "self-benchmark", "run": str(run), **score_run(pdfs, load_run(run), refs)}
    return _emit(report, opts, None, "score")


def _pdfs_for(root: Path) -> list[Path]:
    from vlparse.eval.selfbench import list_pdfs

    return list_pdfs(root)


def _overall_score(report: dict, key: str) -> float | None:
    if report["kind"] == "compare":
        scores = [r["overall"].get(key) for r in report["runs"]]
        return None if any(s is None for s in scores) else min(scores)
    return report["overall"].get(key)


def _emit(report: dict, opts: EvalOptions, columns, key: str) -> int:
    if opts.json_out or not console.stdout_is_tty():
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        _table(report)
    if opts.min_score is not None:
        score = _overall_score(report, key)
        if score is None or score < opts.min_score:
            console.error(f"overall {key} {score if score is not None else 'n/a'} is below --min-score "
                          f"{opts.min_score}")
            return EXIT_PARTIAL
    return EXIT_OK


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    kind = report["kind"]
    if kind == "compare":
        runs = report["runs"]
        names = "ABCDEFGH"
        t = Table(title="vlparse eval --compare: " + ", ".join(f"{names[i]} = {r['run']}" for i, r in enumerate(runs)))
        t.add_column("document")
        for i, _ in enumerate(runs):
            for m in ("text", "box", "order", "score"):
                t.add_column(f"{m} {names[i]}", justify="right")
        for i, d in enumerate(runs[0]["documents"]):
            row = [Path(d["source"]).name]
            for r in runs:
                dd = r["documents"][i]
                row += [_fmt(dd.get(m)) for m in ("text", "box", "order", "score")]
            t.add_row(*row)
        t.add_row("overall", *[_fmt(r["overall"].get(m)) for r in runs for m in ("text", "box", "order", "score")])
        out.print(t)
        return
    if kind == "self-benchmark":
        t = Table(title=f"vlparse eval: {', '.join(report['family'])} {', '.join(report['model'])} "
                        f"(model image {', '.join(report['model_image_sizes'])})")
        for c in ("document", "pages", "text", "box", "order", "score"):
            t.add_column(c, justify="left" if c == "document" else "right")
        for d in report["documents"]:
            t.add_row(Path(d["source"]).name, *[_fmt(d.get(m)) for m in ("pages", "text", "box", "order", "score")])
        o = report["overall"]
        t.add_row("overall", *[_fmt(o.get(m)) for m in ("pages", "text", "box", "order", "score")])
        out.print(t)
        return
    t = Table(title=f"vlparse eval ({kind})")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in report["overall"].items():
        t.add_row(str(k), _fmt(v))
    out.print(t)
