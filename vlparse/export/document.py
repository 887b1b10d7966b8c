"""Write the chosen exports of one finished document (every write atomic)."""

from __future__ import annotations

import json
from pathlib import Path

from vlparse.run.atomic import atomic_write_text
from vlparse.core.results import SCHEMA_VERSION, Document

DOC_FORMATS = ("json", "html", "md", "raw", "hocr", "alto", "searchable-pdf", "review", "chunks")


def render_text(doc: Document, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt == "html":
        from vlparse.export.html import render_html

        return render_html(doc)
    if fmt == "md":
        from vlparse.export.markdown import render_markdown

        return render_markdown(doc)
    if fmt == "raw":
        return "".join(json.dumps({"schema_version": SCHEMA_VERSION, "source": doc.source, "page": p.info.page,
                                   "output": p.raw}, ensure_ascii=False)
                       + "\n" for p in doc.pages)
    if fmt == "hocr":
        from vlparse.export.hocr import render_hocr

        return render_hocr(doc)
    if fmt == "alto":
        from vlparse.export.alto import render_alto

        return render_alto(doc)
    if fmt == "chunks":
        from vlparse.export.chunks import chunk_document, render_chunks_jsonl

        return render_chunks_jsonl(chunk_document(doc))
    raise ValueError(f"{fmt} is not a text export")


def write_exports(doc: Document, formats: list[str], path_for, *, stdout=None, password: str | None = None,
                  images=None, chunker=None) -> list[Path]:
    """Write each format to ``path_for(fmt)`` (None: ``stdout``). Returns the files written.

    ``images``: a function giving the pages' images (:func:`vlparse.pages.render.page_images`), for the review page.
    ``chunker``: document -> chunks (:func:`vlparse.export.chunks.chunk_document` with the run's token counter).
    """
    written = []
    for fmt in formats:
        target = path_for(fmt)
        if fmt == "searchable-pdf":
            from vlparse.export.searchable_pdf import write_searchable_pdf

            if target is None:
                raise ValueError("a searchable PDF cannot go to stdout")
            write_searchable_pdf(doc, doc.source, str(target), password=password)
            written.append(target)
            continue
        if fmt == "review":
            from vlparse.export.review import render_review

            if images is None:
                from vlparse.pages.render import page_images

                pages = page_images(doc.source, [p.info for p in doc.pages], password)
            else:
                pages = images()
            text = render_review(doc, pages)
        elif fmt == "chunks" and chunker is not None:
            from vlparse.export.chunks import render_chunks_jsonl

            text = render_chunks_jsonl(chunker(doc))
        else:
            text = render_text(doc, fmt)
        if target is None:
            stdout.write(text)
            stdout.flush()
        else:
            atomic_write_text(target, text)
            written.append(target)
    return written
