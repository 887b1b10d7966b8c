"""The public Python API: vlparse.parse / ground / Parser, typed results, the same answers as the CLI."""

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import vlparse
from vlparse.cli import main
from vlparse.core.results import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
PDF = str(ROOT / "examples" / "sample.pdf")
SHAPES = str(ROOT / "examples" / "shapes.png")
ANSWERS = ROOT / "examples" / "answers"
DOC = dict(family="qwen2.5-vl", from_output=str(ANSWERS / "qwen2.5-vl" / "sample-pdf"))


def ground_kw(family):
    return dict(family=family, from_output=str(ANSWERS / family / "shapes-ground.txt"))


def test_public_surface_is_pinned():
    assert sorted(vlparse.__all__) == sorted([
        "__version__", "parse", "ground", "extract", "Parser", "Document", "Page", "Block", "Detection", "GroundResult",
        "PageInfo", "PageStatus", "SCHEMA_VERSION", "BackendKind", "Dtype", "Quant", "Attn", "DeviceKind",
        "TaskKind", "AnswerFormat", "DateOrder", "BackendOptions", "Family", "FAMILIES", "get_family", "pixel_budget", "VlparseError",
        "UsageError", "InputError", "ModelError", "BackendError", "OutOfMemoryError"])
    for name in vlparse.__all__:
        assert getattr(vlparse, name) is not None, name


def test_parse_returns_what_the_cli_writes(tmp_path):
    assert main(["doc", PDF, "--family", "qwen2.5-vl", "--from-output", DOC["from_output"], "--json", "--md",
                 "--html", "-o", str(tmp_path), "-q"]) == 0
    cli = json.loads((tmp_path / "sample.json").read_text())
    doc = vlparse.parse(PDF, **DOC)
    assert isinstance(doc, vlparse.Document) and doc.ok
    assert doc.to_dict() == cli and cli["schema_version"] == SCHEMA_VERSION
    assert doc.to_json() == (tmp_path / "sample.json").read_text()
    assert doc.to_markdown() == (tmp_path / "sample.md").read_text()
    assert doc.to_html() == (tmp_path / "sample.html").read_text()
    assert [b.text for _, b in doc.iter_blocks()] == [b["text"] for p in cli["pages"] for b in p["blocks"]]


def test_results_round_trip_and_iterate():
    doc = vlparse.parse(PDF, **DOC)
    again = vlparse.Document.from_dict(json.loads(json.dumps(doc.to_dict())))
    assert again.to_dict() == doc.to_dict() and isinstance(again, vlparse.Document)
    page, block = next(iter(doc))
    assert isinstance(page, vlparse.Page) and isinstance(block, vlparse.Block)
    assert page.info.page == 1 and block.type == "header" and len(block.bbox_pt) == 4 and len(block.bbox_px) == 4
    assert [p.info.page for p, _ in doc].count(2) == len(doc.pages[1].blocks)
    with pytest.raises(ValueError, match="newer"):
        vlparse.Document.from_dict({**doc.to_dict(), "schema_version": SCHEMA_VERSION + 1})
    hits = vlparse.ground(SHAPES, "red car", **ground_kw("qwen3-vl"))
    assert vlparse.GroundResult.from_dict(json.loads(json.dumps(hits.to_dict()))).to_dict() == hits.to_dict()


@pytest.mark.parametrize("family", ["qwen-vl", "qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_ground_matches_the_cli_for_every_family(family, capsys):
    assert main(["ground", SHAPES, "red car", "--json", *sum((["--" + k.replace("_", "-"), v]
                                                              for k, v in ground_kw(family).items()), [])]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    result = vlparse.ground(SHAPES, "red car", **ground_kw(family))
    assert result.ok and result.records() == [line]
    assert result.detections[0].label == "red car"


def test_bytes_and_pil_images_are_sources():
    with open(PDF, "rb") as f:
        from_bytes = vlparse.parse(f.read(), **DOC)
    assert from_bytes.source == "<bytes 1>" and from_bytes.ok
    assert [b for _, b in from_bytes] == [b for _, b in vlparse.parse(PDF, **DOC)]
    image = Image.open(SHAPES)
    hits = vlparse.ground([image, SHAPES], "red car", **ground_kw("qwen3-vl"))
    assert [p.info.source for p in hits.images] == ["<image 1>", SHAPES]
    assert hits.images[0].detections == hits.images[1].detections
    image.load()  # the caller's image is left open


def test_a_failed_page_does_not_raise(tmp_path):
    answers = tmp_path / "answers"
    answers.mkdir()
    shutil.copy(Path(DOC["from_output"]) / "page-1.html", answers / "page-1.html")
    doc = vlparse.parse(PDF, family="qwen2.5-vl", from_output=str(answers))
    assert [p.status for p in doc.pages] == ["ok", "failed"] and not doc.ok
    assert doc.pages[1].status == vlparse.PageStatus.FAILED and "no recorded answer" in doc.pages[1].error


def test_only_a_call_that_cannot_run_raises(tmp_path, capsys):
    with pytest.raises(vlparse.InputError, match="no such file"):
        vlparse.parse(str(tmp_path / "nope.pdf"), **DOC)
    docs = vlparse.parse([PDF, str(tmp_path / "nope.pdf")], **DOC)
    assert [d.ok for d in docs] == [True, False] and docs[1].error == "no such file" and not docs[1].pages
    with pytest.raises(vlparse.UsageError):
        vlparse.parse(PDF, from_output=DOC["from_output"])  # recorded answers need the family
    with pytest.raises(vlparse.UsageError):
        vlparse.parse(PDF, dtype="int3", **DOC)
    with pytest.raises(vlparse.UsageError):
        vlparse.ground(SHAPES, [], **ground_kw("qwen3-vl"))
    assert capsys.readouterr() == ("", "")  # the library prints nothing


def test_progress_callback():
    seen = []
    vlparse.parse(PDF, **DOC, progress=lambda done, total, page: seen.append((done, total, page.info.page)))
    assert seen == [(1, 2, 1), (2, 2, 2)]




def test_parser_loads_once_serves_many_calls_and_releases(monkeypatch):
    from vlparse.backends import factory
    from vlparse.backends.recorded import RecordedBackend, load_recorded

    made, closed = [], []

    class Fake(RecordedBackend):
        def close(self):
            closed.append(self)

    def fake_factory(opts, family, *, only_page=None):
        def make():
            answers = load_recorded(DOC["from_output"])
            made.append(Fake(family, answers))
            return made[-1]
        return make

    monkeypatch.setattr(factory, "backend_factory", fake_factory)
    with vlparse.Parser(model="some/model", family="qwen2.5-vl") as parser:
        a = parser.parse(PDF)
        b = parser.parse([PDF, PDF], pages="2")
        assert len(made) == 1 and not closed  # loaded once, kept between calls
    assert closed == made  # released at the end of the with block
    assert a.ok and [len(d.pages) for d in b] == [1, 1] and a.model == "some/model"
    with pytest.raises(vlparse.UsageError, match="closed"):
        parser.parse(PDF)


def test_the_name_parse_survives_the_parsers_subpackage():
    import vlparse.parse.html  # noqa: F401 - the subpackage vlparse/parse/ shares the name

    assert callable(vlparse.parse) and vlparse.parse(PDF, **DOC).ok


def test_concurrent_calls_are_batched_together(monkeypatch):
    """While the model works on one call's batch, the pages of two other calls wait, then go in as one batch."""
    import threading

    from vlparse.backends import factory
    from vlparse.backends.recorded import RecordedBackend, load_recorded

    sizes, first_started, release = [], threading.Event(), threading.Event()

    class Slow(RecordedBackend):
        def generate(self, requests):
            sizes.append(len(requests))
            if len(sizes) == 1:
                first_started.set()
                assert release.wait(60), "the other calls never queued"
            return super().generate(requests)

    def fake_factory(opts, family, *, only_page=None):
        return lambda: Slow(family, load_recorded(DOC["from_output"]))

    monkeypatch.setattr(factory, "backend_factory", fake_factory)
    results = {}
    with vlparse.Parser(model="m", family="qwen2.5-vl") as parser:
        def call(name, pages):
            results[name] = parser.parse(PDF, pages=pages)

        a = threading.Thread(target=call, args=("a", "1"))
        a.start()
        assert first_started.wait(60)
        others = [threading.Thread(target=call, args=(n, p)) for n, p in (("b", "1"), ("c", "2"))]
        for t in others:
            t.start()
        batcher = parser._batcher
        for _ in range(600):  # both calls' pages are waiting for the model (no timing asserted: just waiting)
            with batcher.cv:
                if len(batcher.waiting) == 2:
                    break
            threading.Event().wait(0.1)
        release.set()
        for t in [a, *others]:
            t.join(60)
    assert sizes == [1, 2] and batcher.batches == [1, 2]
    assert [len(results[n].pages) for n in "abc"] == [1, 1, 1] and all(results[n].ok for n in "abc")
    assert results["c"].pages[0].info.page == 2 and results["c"].pages[0].blocks[0].text == "Outlook"


def test_closing_a_local_backend_hands_the_gpu_memory_back(monkeypatch):
    import torch

    from vlparse.backends.local import LocalBackend

    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    backend = LocalBackend.__new__(LocalBackend)  # no model load: only close() is under test
    backend.model, backend.device = object(), "cuda:0"
    backend.close()
    assert backend.model is None and emptied == [True]
