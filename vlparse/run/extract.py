"""``vlparse extract``: the fields of a schema, each value with the box (and page) it was read from.

One request per page (servers take one image per prompt). Each page's answer is parsed and validated
(:mod:`vlparse.parse.extract`); a schema violation is asked again once with the errors given back. When a
document is complete its values are checked against the PDF's text layer under their boxes, the pages
are merged (earliest matching page wins, the rest go to ``conflicts``) and the record is written: JSON
per document, ``--jsonl`` on stdout, a CSV row per document, review page and overlays.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from vlparse.backends.factory import resolve_family
from vlparse.core.errors import UsageError
from vlparse.core.families import Family
from vlparse.core.options import DateOrder, ExtractOptions, RunOptions
from vlparse.core.results import Block, Document, PageResult
from vlparse.parse.extract import ExtractSchema, Word, assemble, csv_header, csv_row, schema_from_any, \
    schema_from_fields, schema_from_json
from vlparse.run.job import budget_for, exit_code, gather_inputs, make_store, run_config, run_pipeline
from vlparse.run.outputs import OutputPlan, plan_outputs, unique_names
from vlparse.run.pipeline import DocumentRun, Listener, RunConfig
from vlparse.run.prompts import fill_schema, load_prompt
from vlparse.run.tasks import Decoding, Task

EXTRACT_FORMATS = ("json", "review")


def pdf_words(path: str, page: int, password: str | None = None) -> list[Word] | None:
    """The visible words of a PDF page as ``(x0, y0, x1, y1, text)`` in points of the displayed page (rotation
    and cropbox applied, top-left origin, the space of ``bbox_pt``), or None when the page has no text layer to
    witness with: a scan, only an invisible OCR layer, or a page that cannot be read.

    The one place extract reads a text layer: :func:`vlparse.pages.textlayer.page_text_layer`, the same reader
    ``doc``'s verification uses.
    """
    from vlparse.core.errors import VlparseError
    from vlparse.pages.textlayer import page_text_layer

    try:
        layer = page_text_layer(path, page, password)
    except VlparseError:  # no text layer to read is "unchecked", never a failed document
        return None
    if not layer.has_text:
        return None
    return [(*w.bbox_pt, w.text) for w in layer.words] or None


def load_schema(opts: ExtractOptions) -> ExtractSchema:
    """The schema of a run: ``opts.schema`` (API), ``--schema FILE`` or ``--field`` specs (exactly one)."""
    given = [x for x in (opts.schema is not None, opts.schema_file is not None, bool(opts.fields)) if x]
    if len(given) > 1:
        raise UsageError("give the schema one way: --schema FILE or --field NAME[:TYPE], not both")
    if opts.schema is not None:
        return schema_from_any(opts.schema)
    if opts.schema_file is not None:
        try:
            data = json.loads(Path(opts.schema_file).read_text(encoding="utf-8"))
        except OSError as e:
            raise UsageError(f"--schema {opts.schema_file}: {e.strerror or e}") from None
        except ValueError as e:
            raise UsageError(f"--schema {opts.schema_file}: not valid JSON ({e})") from None
        return schema_from_json(data)
    return schema_from_fields(opts.fields)


def review_document(record: dict[str, Any], pages: list[PageResult]) -> Document:
    """The record as a document for the review page and overlays: each page's blocks are the fields read
    there (type = the field's name), the chosen value first, conflicting values marked."""
    by_page: dict[int, list[Block]] = {p.info.page: [] for p in pages}

    def add(name: str, ev: dict[str, Any], note: str = "") -> None:
        if ev.get("page") not in by_page:
            return
        text = f"{ev['value']}" + (f"  [{note}]" if note else "")
        if ev.get("flags"):
            text += "  (" + "; ".join(ev["flags"]) + (f": {ev.get('evidence_text')!r}" if ev.get("evidence_text")
                                                       else "") + ")"
        by_page[ev["page"]].append(Block(name, text, "", ev.get("bbox_px"), ev.get("bbox_pt")))

    for name, v in record["fields"].items():
        if isinstance(v, list):
            for i, row in enumerate(v):
                for col, ev in row.items():
                    add(f"{name}.{col}", ev, f"row {i + 1}")
        elif v is not None:
            add(name, v)
    for c in record["conflicts"]:
        add(c["field"], c, "conflict")
    out = []
    for p in pages:
        q = PageResult(p.info, p.status, list(p.warnings), by_page.get(p.info.page, []), raw=p.raw, error=p.error)
        out.append(q)
    return Document(record["source"], record["family"], record["model"], out)


class ExtractListener(Listener):
    def __init__(self, opts: ExtractOptions, plan: OutputPlan, schema: ExtractSchema, family, model_name: str,
                 json_to_stdout: bool, pretty: bool):
        self.opts, self.plan, self.schema, self.family, self.model_name = opts, plan, schema, family, model_name
        self.json_to_stdout, self.pretty = json_to_stdout, pretty
        self.records: list[dict[str, Any]] = []
        self.written: list[Path] = []

    def record(self, run: DocumentRun) -> dict[str, Any]:
        return document_record(run, self.schema, self.family, self.model_name, self.opts.password,
                               DateOrder(self.opts.date_order).value)

    def on_document(self, run: DocumentRun) -> None:
        from vlparse.run.atomic import atomic_write_text

        rec = self.record(run)
        self.records.append(rec)
        if self.json_to_stdout:
            sys.stdout.write(json.dumps(rec, ensure_ascii=False, indent=2 if self.pretty else None) + "\n")
            sys.stdout.flush()
        if "json" in self.opts.formats and self.plan.mode in ("dir", "file"):
            target = self.plan.path_for(run.source, "json")
            atomic_write_text(target, json.dumps(rec, ensure_ascii=False, indent=2) + "\n")
            self.written.append(target)
        if "review" in self.opts.formats or self.opts.overlay_dir:
            self._pictures(rec, run)

    def _pictures(self, rec: dict[str, Any], run: DocumentRun) -> None:
        from vlparse.pages.render import page_images
        from vlparse.run.atomic import atomic_write_text

        doc = review_document(rec, run.ordered())
        images = page_images(doc.source, [p.info for p in doc.pages], self.opts.password)
        if "review" in self.opts.formats:
            from vlparse.export.review import render_review

            target = self.plan.path_for(run.source, "review")
            if target is not None:
                atomic_write_text(target, render_review(doc, images, legend="Fields"))
                self.written.append(target)
        if self.opts.overlay_dir:
            from vlparse.export.overlays import write_block_overlays

            self.written += write_block_overlays(doc, self.opts.overlay_dir, self.plan.names.get(run.source),
                                                 images=images, labels=True)

    def finish(self) -> None:
        if self.opts.csv:
            from vlparse.run.atomic import atomic_write_text

            atomic_write_text(Path(self.opts.csv), records_csv(self.records, self.schema))


def records_csv(records: list[dict[str, Any]], schema: ExtractSchema) -> str:
    """RFC 4180 CSV (CRLF line ends, quoting by the csv module), one row per document, formula-safe cells."""
    buf = io.StringIO()
    w = csv.writer(buf, dialect="excel", lineterminator="\r\n")
    w.writerow(csv_header(schema))
    for rec in records:
        w.writerow(csv_row(rec, schema))
    return buf.getvalue()


def document_record(run: DocumentRun, schema: ExtractSchema, family: Family, model_name: str,
                    password: str | None = None, date_order: str = DateOrder.DMY.value) -> dict[str, Any]:
    """The record of one finished document: its pages merged, every value checked against the text layer."""

    def words(p: PageResult):
        return pdf_words(p.info.source, p.info.page, password) if p.info.kind == "pdf" else None

    return assemble(run.source, family.name, model_name, run.ordered(), schema, words, date_order=date_order)


def extract_job(family: Family, opts: RunOptions, schema: Any, date_order: str = DateOrder.DMY.value,
                ) -> tuple[Task, RunConfig, ExtractSchema]:
    """The extraction task (the schema in the family's prompt, decoding) and its run settings: what the CLI and
    the API run. ``schema``: an ExtractSchema, a JSON Schema dict, a Pydantic model or ``--field`` specs."""
    try:
        order = DateOrder(date_order).value
    except ValueError:
        raise UsageError(f"date order must be one of {' | '.join(DateOrder.values())} (got '{date_order}')") from None
    sch = schema_from_any(schema)
    if family.grounding != "json":
        raise UsageError(f"extract needs a Qwen2.5-VL or Qwen3-VL model: {family.title} cannot answer with values "
                         "and their boxes in JSON")
    template = json.dumps(sch.template(), ensure_ascii=False)
    prompt = fill_schema(load_prompt(family, "extract", opts.prompt_file), template, sch.describe())
    budget = budget_for(family, "doc", opts)
    task = Task("extract", family, prompt, Decoding(opts.tokens_for("extract")), schema=sch, date_order=order)
    return task, run_config(task, budget, opts), sch


def run_extract(opts: ExtractOptions) -> int:
    for fmt in opts.formats:
        if fmt not in EXTRACT_FORMATS:
            raise UsageError(f"unknown export format '{fmt}'")
    if opts.jsonl and opts.output == "-":
        raise UsageError("--jsonl already writes to stdout; -o - cannot be used with it")
    schema = load_schema(opts)
    family = resolve_family(opts.backend)
    task, cfg, schema = extract_job(family, opts, schema, opts.date_order)
    sources, problems, many = gather_inputs(opts)
    if not sources and not problems:
        raise UsageError("no inputs (give PDFs or images, a directory, or - to read paths from stdin)")
    every = sources or [p for p, _ in problems]
    if opts.output is None or opts.output == "-":
        plan = OutputPlan("dir", Path.cwd(), unique_names(every))  # review pages and overlays land here
        json_to_stdout, pretty = True, not (opts.jsonl or many or len(every) > 1)
        opts.formats = [f for f in opts.formats if f != "json"]
    else:
        formats = ["json", *[f for f in opts.formats if f != "json"]]
        plan = plan_outputs(opts.output, every, formats, many=many)
        if "review" in formats and plan.mode == "file":
            raise UsageError("--review writes a file per document: give -o DIR")
        opts.formats = formats
        json_to_stdout, pretty = opts.jsonl, False
    model_name = opts.backend.run_model
    store = make_store(plan, cfg, opts)
    listener = ExtractListener(opts, plan, schema, family, model_name, json_to_stdout, pretty)
    summary = run_pipeline(cfg, opts, family, sources, problems, listener, store)
    listener.finish()
    return exit_code(summary, len(sources) + len(problems))
