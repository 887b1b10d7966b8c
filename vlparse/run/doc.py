"""``vlparse doc``: documents to validated QwenVL HTML, Markdown, JSON and the other exports."""

from __future__ import annotations

import json
import sys

from vlparse.core.errors import UsageError
from vlparse.run import console
from vlparse.export.document import DOC_FORMATS, write_exports
from vlparse.core.results import SCHEMA_VERSION, Document
from vlparse.run.outputs import plan_outputs
from vlparse.run.pipeline import DocumentRun, Listener
from vlparse.core.options import DocOptions
from vlparse.run.job import (check_export_paths, doc_job, exit_code, gather_inputs, make_store, remote_output,
                              run_pipeline)
from vlparse.run.remote import is_url
from vlparse.backends.factory import resolve_family
from vlparse.run.verify import VERIFY_VERSION


class DocListener(Listener):
    def __init__(self, opts: DocOptions, plan, family, model_name: str, formats: list[str]):
        self.opts, self.plan, self.family, self.model_name, self.formats = opts, plan, family, model_name, formats
        self.written: list = []
        self._chunker = None

    def chunker(self):
        """document -> chunks, counting tokens with the model's tokenizer when a local model runs."""
        if self._chunker is None:
            from functools import partial

            from vlparse.export.chunks import DEFAULT_MAX_TOKENS, chunk_document

            count, name = token_counter(self.opts)
            self._chunker = partial(chunk_document, max_tokens=self.opts.chunk_tokens or DEFAULT_MAX_TOKENS,
                                    count_tokens=count, tokenizer_name=name)
        return self._chunker

    def on_page(self, result, doc: DocumentRun, resumed: bool) -> None:
        if self.opts.jsonl:  # resumed pages too, so `... --jsonl > pages.jsonl` is complete after a rerun
            record = {"schema_version": SCHEMA_VERSION, **result.to_dict()}
            if resumed:
                record["resumed"] = True
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def document(self, run: DocumentRun) -> Document:
        return Document(run.source, self.family.name, self.model_name, run.ordered())

    def on_document(self, run: DocumentRun) -> None:
        from vlparse.pages.render import iter_page_images

        doc = self.document(run)

        def images():  # rendered again page by page for each use: memory stays at one page
            return iter_page_images(doc.source, [p.info for p in doc.pages], self.opts.password)

        if self.formats:
            self.written += write_exports(doc, self.formats, lambda fmt: self.plan.path_for(run.source, fmt),
                                          stdout=sys.stdout, password=self.opts.password, images=images,
                                          unchanged=run.resumed == len(run.pages),
                                          chunker=self.chunker() if "chunks" in self.formats else None)
        if self.opts.overlay_dir:
            from vlparse.export.overlays import write_block_overlays

            self.written += write_block_overlays(doc, self.opts.overlay_dir, self.plan.names.get(run.source),
                                                 password=self.opts.password,
                                                 keep_existing=run.resumed == len(run.pages))


def token_counter(opts: DocOptions):
    """(count, tokenizer name) from the local model's tokenizer, or (None, None): the stated approximation."""
    b = opts.backend
    if b.backend != "local" or b.from_output is not None:
        console.verbose("vlparse: --chunks counts tokens as characters/4 (no local model's tokenizer in this run)")
        return None, None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(b.model_name)
    except Exception as e:  # noqa: BLE001 - any failure falls back to the stated approximation
        console.warn(f"--chunks: the model's tokenizer could not be loaded ({e.__class__.__name__}); "
                     "counting tokens as characters/4")
        return None, None
    return (lambda text: len(tok.encode(text, add_special_tokens=False))), b.model_name


def run_doc(opts: DocOptions) -> int:
    for fmt in opts.formats:
        if fmt not in DOC_FORMATS:
            raise UsageError(f"unknown export format '{fmt}'")
    # -o DIR always gets the document JSON; --jsonl alone (no -o) writes only to stdout
    formats = list(opts.formats) or ([] if opts.jsonl and opts.output is None else ["json"])
    if opts.jsonl and opts.output == "-":
        raise UsageError("--jsonl already writes to stdout; -o - cannot be used with it")
    check_export_paths(overlay=opts.overlay_dir)
    family = resolve_family(opts.backend)
    task, cfg = doc_job(family, opts)
    sources, problems, many = gather_inputs(opts)
    if not sources and not problems:
        raise UsageError("no inputs (give PDFs or images, a directory, or - to read paths from stdin)")
    remote = remote_output(opts)
    plan = plan_outputs(opts.output, sources or [p for p, _ in problems], formats, many=many)
    plan.remote = remote
    reread = [f for f in formats if f in ("searchable-pdf", "review")] + (["overlay"] if opts.overlay_dir else [])
    if reread and any(is_url(s) for s in sources):
        raise UsageError(f"--{reread[0]} reads the input again on this machine; it needs local inputs, not URLs")
    if "searchable-pdf" in formats and plan.mode == "stdout":
        raise UsageError("--searchable-pdf writes a file: give -o FILE or -o DIR")
    model_name = opts.backend.run_model
    store = make_store(plan, cfg, opts, verify=VERIFY_VERSION, snap_boxes=opts.snap_boxes)
    listener = DocListener(opts, plan, family, model_name, formats)
    summary = run_pipeline(cfg, opts, family, sources, problems, listener, store)
    return exit_code(summary, len(sources) + len(problems))
