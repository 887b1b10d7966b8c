"""Progress and per-document log lines on stderr (a Rich bar only when stderr is a terminal)."""

from __future__ import annotations

import sys
import time

from vlparse.run import console
from vlparse.core.results import FAILED
from vlparse.run.pipeline import DocumentRun, Listener


class ProgressListener(Listener):
    """Wraps another listener, adding progress on stderr."""

    def __init__(self, inner: Listener, *, quiet: bool = False):
        self.inner = inner
        self.quiet = quiet
        self.bar = None
        self.task = None
        self.t0 = time.perf_counter()
        self.pages = 0
        self.total = 0
        if not quiet and sys.stderr.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                TimeRemainingColumn(), console=console.stderr(), transient=True)
            self.task = self.bar.add_task("pages", total=None, rate="")
            self.bar.start()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def on_opened(self, doc: DocumentRun) -> None:
        """The bar's total grows as inputs are opened (they are opened while earlier ones are processed)."""
        self.inner.on_opened(doc)
        self.total += len(doc.pages)
        if self.bar is not None:
            self.bar.update(self.task, total=self.total)

    def on_page(self, result, doc: DocumentRun, resumed: bool) -> None:
        self.inner.on_page(result, doc, resumed)
        self.pages += 1
        if result.status == FAILED and not resumed:
            console.warn(f"{result.info.source} page {result.info.page}: {result.error}")
        else:
            for w in result.warnings:
                console.verbose(f"{result.info.source} page {result.info.page}: {w}")
        if self.bar is not None:
            rate = self.pages / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.update(self.task, advance=1, rate=f"{rate:.2f} pages/s",
                            description=f"{doc.source} p{result.info.page}")

    def on_document(self, doc: DocumentRun) -> None:
        self.inner.on_document(doc)
        failed = sum(1 for r in doc.results.values() if r.status == FAILED)
        marked = sum(1 for r in doc.results.values() if r.status not in ("ok", FAILED))
        note = f", {failed} failed" if failed else ""
        note += f", {marked} marked (truncated/repaired/repetition/suspect)" if marked else ""
        console.info(f"{doc.source}: {len(doc.results)} page(s){note}")

    def on_input_error(self, doc: DocumentRun) -> None:
        self.inner.on_input_error(doc)
        console.error(f"{doc.source}: {doc.error}")
