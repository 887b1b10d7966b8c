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
from vlparse.run.job import doc_job, exit_code, gather_inputs, make_store, run_pipeline
from vlparse.backends.factory import resolve_family


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
        if self.opts.jsonl and not resumed:
            line = {"schema_version": SCHEMA_VERSION, **result.to_dict()}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def document(self, run: DocumentRun) -> Document:
        return Document(run.source, self.family.name, self.model_name, run.ordered())

    def on_document(self, run: DocumentRun) -> None:
        from functools import cache

        from vlparse.pages.render import page_images

        doc = self.document(run)

        @cache
        def images() -> list:  # rendered once for the review page and the overlays together
            return page_images(doc.source, [p.info for p in doc.pages], self.opts.password)

        if self.formats:
            self.written += write_exports(doc, self.formats, lambda fmt: self.plan.path_for(run.source, fmt),
                                          stdout=sys.stdout, password=self.opts.password, images=images,
                                          chunker=self.chunker() if "chunks" in self.formats else None)
        if self.opts.overlay_dir:
            from vlparse.export.overlays import write_block_overlays

            self.written += write_block_overlays(doc, self.opts.overlay_dir, self.plan.names.get(run.source),
                                                 images=images())


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
    family = resolve_family(opts.backend)
    task, cfg = doc_job(family, opts)
    sources, problems, many = gather_inputs(opts)
    if not sources and not problems:
        raise UsageError("no inputs (give PDFs or images, a directory, or - to read paths from stdin)")
    plan = plan_outputs(opts.output, sources or [p for p, _ in problems], formats, many=many)
    if "searchable-pdf" in formats and plan.mode == "stdout":
        raise UsageError("--searchable-pdf writes a file: give -o FILE or -o DIR")
    model_name = opts.backend.run_model
    store = make_store(plan, task="doc", family=family.name, model=model_name, prompt=task.prompt, budget=cfg.budget,
                       dpi=opts.dpi, max_new_tokens=task.decoding.max_new_tokens, backend=opts.backend.backend,
                       **({"answer_format": task.answer_format} if task.answer_format != "html" else {}))
    listener = DocListener(opts, plan, family, model_name, formats)
    summary = run_pipeline(cfg, opts, family, sources, problems, listener, store)
    return exit_code(summary, len(sources) + len(problems))
