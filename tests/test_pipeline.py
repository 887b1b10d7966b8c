"""The runner: per-page isolation of backend failures, retries keep the best attempt, batching across documents."""

from pathlib import Path

import pytest

from pdfs import make_pdf
from vlparse.backends.base import Answer, Backend
from vlparse.core.errors import OutOfMemoryError
from vlparse.core.families import QWEN2_5_VL
from vlparse.core.geometry import Budget
from vlparse.run.pipeline import RunConfig, Runner
from vlparse.run.prompts import load_prompt
from vlparse.run.tasks import Decoding, Task

GOOD = '<html><body><h1 data-bbox="10 10 200 60">Title</h1><p data-bbox="10 80 300 120">Body</p></body></html>'


class ScriptedBackend(Backend):
    """Answers from a function of the request; records every batch it was given."""

    name = "scripted"

    def __init__(self, answer, batch_size=4):
        self.family = QWEN2_5_VL
        self.answer = answer
        self.batch_size = batch_size
        self.batches: list[list[str]] = []

    def generate(self, requests):
        self.batches.append([r.key for r in requests])
        return [self.answer(r) for r in requests]


def _runner(backend, retries=0, batch_size=None):
    fam = QWEN2_5_VL
    task = Task("doc", fam, load_prompt(fam, "doc"), Decoding(256))
    cfg = RunConfig(task=task, budget=Budget(fam.default_min_pixels(), 200_000), retries=retries, batch_size=batch_size)
    return Runner(cfg, lambda: backend)


def _pdfs(tmp_path: Path, *pages: int) -> list[str]:
    return [str(make_pdf(tmp_path / f"d{i}.pdf", pages=n)) for i, n in enumerate(pages)]


def test_an_unexpected_failure_costs_only_its_page(tmp_path):
    def answer(r):
        if r.key.endswith("d0.pdf#2"):
            raise RuntimeError("processor choked on this image")
        return Answer(r.key, GOOD)

    backend = ScriptedBackend(answer)
    summary = _runner(backend).run(_pdfs(tmp_path, 3, 2))
    assert (summary.pages_done, summary.pages_failed) == (4, 1) and summary.exit_code == 1
    failed = [r for d in summary.documents for r in d.results.values() if r.status == "failed"]
    assert len(failed) == 1 and failed[0].info.page == 2 and "processor choked" in failed[0].error
    # the first batch held pages of both documents; after the failure the pages were retried one by one
    assert any(len({k.split("#")[0] for k in b}) == 2 for b in backend.batches)


def test_run_dooming_errors_propagate(tmp_path):
    def answer(r):
        raise OutOfMemoryError("out of memory: try --quant 4bit")

    with pytest.raises(OutOfMemoryError):
        _runner(ScriptedBackend(answer)).run(_pdfs(tmp_path, 1))


def test_truncated_answers_are_retried_with_more_tokens_and_the_best_is_kept(tmp_path):
    seen = []

    def answer(r):
        seen.append(r.max_new_tokens)
        if r.max_new_tokens == 256:
            return Answer(r.key, GOOD[:60], "length")  # cut mid-document
        return Answer(r.key, GOOD, "stop")

    summary = _runner(ScriptedBackend(answer), retries=1).run(_pdfs(tmp_path, 1))
    page = summary.documents[0].results[1]
    assert seen == [256, 512]
    assert page.status == "ok" and [b.text for b in page.blocks] == ["Title", "Body"]
    assert [a["status"] for a in page.attempts] == ["truncated", "ok"]


def test_batches_respect_the_batch_size(tmp_path):
    backend = ScriptedBackend(lambda r: Answer(r.key, GOOD), batch_size=2)
    summary = _runner(backend).run(_pdfs(tmp_path, 3, 2))
    assert summary.pages_done == 5 and max(len(b) for b in backend.batches) == 2


def test_a_page_without_usable_answer_says_why(tmp_path):
    summary = _runner(ScriptedBackend(lambda r: Answer(r.key, "   "))).run(_pdfs(tmp_path, 1))
    page = summary.documents[0].results[1]
    assert page.status == "failed" and page.error and page.error != "None"


class StreamingBackend(ScriptedBackend):
    """A server-like backend: requests run concurrently in its own slots and finish in any order."""

    streaming = True

    def __init__(self, answer, slots=2):
        super().__init__(answer, batch_size=slots)
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(slots)

    def submit(self, request):
        return self.pool.submit(self.answer, request)

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)


def test_a_slow_page_does_not_hold_up_the_others_on_a_streaming_backend(tmp_path):
    import threading

    others_done = threading.Event()
    finished: list[str] = []
    lock = threading.Lock()

    def answer(r):
        if r.key.endswith("d0.pdf#1"):  # the slow page: it waits until every other page is answered
            assert others_done.wait(10), "the runner waited for the slow page before sending the others"
        with lock:
            finished.append(r.key)
            if len(finished) == 7:
                others_done.set()
        return Answer(r.key, GOOD)

    backend = StreamingBackend(answer, slots=2)
    summary = _runner(backend).run(_pdfs(tmp_path, 4, 4))
    backend.close()
    assert summary.pages_done == 8 and finished[-1].endswith("d0.pdf#1")


def test_streaming_backend_retries_and_isolates_like_the_batch_path(tmp_path):
    def answer(r):
        if r.key.endswith("d0.pdf#2"):
            raise RuntimeError("boom")
        if r.max_new_tokens == 256 and r.key.endswith("#1"):
            return Answer(r.key, GOOD[:60], "length")
        return Answer(r.key, GOOD)

    backend = StreamingBackend(answer)
    summary = _runner(backend, retries=1).run(_pdfs(tmp_path, 3))
    backend.close()
    pages = summary.documents[0].results
    assert pages[2].status == "failed" and "boom" in pages[2].error
    assert pages[1].status == "ok" and len(pages[1].attempts) == 2 and pages[3].status == "ok"
