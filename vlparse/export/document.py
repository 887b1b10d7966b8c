"""Write the chosen exports of one finished document (every write atomic)."""

from __future__ import annotations

import json
from pathlib import Path

from vlparse.run.atomic import atomic_write, atomic_write_bytes, same_content
from vlparse.core.results import SCHEMA_VERSION, Document

DOC_FORMATS = ("json", "html", "md", "raw", "hocr", "alto", "searchable-pdf", "review", "chunks")


def render_text(doc: Document, fmt: str, layers=None) -> str:
    """``layers``: a function giving page number -> text-layer words (word boxes in hOCR / ALTO), or None."""
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

        return render_hocr(doc, layers() if layers else None)
    if fmt == "alto":
        from vlparse.export.alto import render_alto

        return render_alto(doc, layers() if layers else None)
    if fmt == "chunks":
        from vlparse.export.chunks import chunk_document, render_chunks_jsonl

        return render_chunks_jsonl(chunk_document(doc))
    raise ValueError(f"{fmt} is not a text export")


def write_exports(doc: Document, formats: list[str], path_for, *, stdout=None, password: str | None = None,
                  images=None, unchanged: bool = False, chunker=None) -> list[Path]:
    """Write each format to ``path_for(fmt)`` (None: ``stdout``). Returns the files written or kept.

    ``images``: a function giving the pages' images (an iterable, e.g. :func:`vlparse.pages.render.iter_page_images`),
    for the review page, which is written as it is built (one page image in memory at a time).
    hOCR and ALTO read the text layer of pages with verified blocks again for their word boxes.
    ``chunker``: document -> chunks (:func:`vlparse.export.chunks.chunk_document` with the run's token counter).
    A file that already holds what would be written is left alone (its mtime stays, so make or rsync see no
    change); ``unchanged`` (every page was resumed) also keeps an existing searchable PDF or review page.
    """
    from functools import cache

    @cache
    def layers() -> dict:
        from vlparse.pages.textlayer import document_words

        pages = [p.info.page for p in doc.pages if any((b.verify or {}).get("status") == "verified"
                                                       for b in p.blocks)]
        return document_words(doc.source, pages, password) if pages else {}

    written = []
    for fmt in formats:
        target = path_for(fmt)
        if unchanged and target is not None and fmt in ("searchable-pdf", "review") and target.is_file():
            written.append(target)
            continue
        if fmt == "searchable-pdf":
            from vlparse.export.searchable_pdf import write_searchable_pdf

            if target is None:
                raise ValueError("a searchable PDF cannot go to stdout")
            write_searchable_pdf(doc, doc.source, str(target), password=password)
            written.append(target)
            continue
        if fmt == "review":
            from vlparse.export.review import write_review

            if images is None:
                from vlparse.pages.render import iter_page_images

                pages = iter_page_images(doc.source, [p.info for p in doc.pages], password)
            else:
                pages = images()
            if target is None:
                write_review(stdout.write, doc, pages)
                stdout.flush()
            else:
                atomic_write(target, lambda f: write_review(lambda t: f.write(t.encode("utf-8", "backslashreplace")), doc, pages))
                written.append(target)
            continue
        if fmt == "chunks" and chunker is not None:
            from vlparse.export.chunks import render_chunks_jsonl

            text = render_chunks_jsonl(chunker(doc))
        else:
            text = render_text(doc, fmt, layers)
        if target is None:
            stdout.write(text)
            stdout.flush()
        else:
            data = text.encode("utf-8", "backslashreplace")  # a non-UTF-8 file name: a \udcXX escape
            if not same_content(target, data):
                atomic_write_bytes(target, data)
            written.append(target)
    return written
