"""Run state (resume), output planning and recorded answers: the plumbing of batch runs."""

import json
from pathlib import Path

import pytest

from vlparse.backends.base import Request

from vlparse.core.prompt import Prompt
from vlparse.backends.recorded import RecordedBackend, load_recorded
from vlparse.core.errors import UsageError
from vlparse.core.families import QWEN2_5_VL
from vlparse.core.geometry import Frame
from vlparse.core.results import FAILED, OK, REPETITION, TRUNCATED, Block, PageInfo, PageResult
from vlparse.run.outputs import plan_outputs, unique_names
from vlparse.run.store import Store, doc_id, fingerprint
from vlparse.run.tasks import Decoding, next_decoding, quality


def _result(source="a.pdf", page=1, status=OK, blocks=1):
    info = PageInfo(source, page, Frame(100, 200, 100, 200, 0.72, 0.72), kind="pdf", width_pt=72, height_pt=144,
                    zoom_x=1 / 0.72, zoom_y=1 / 0.72)
    return PageResult(info, status, blocks=[Block("paragraph", "hi", "<p>hi</p>", [1, 2, 3, 4], [0.72, 1.44, 2.16, 2.88])
                                            for _ in range(blocks)])


def test_store_round_trip_and_fingerprint(tmp_path):
    s = Store(tmp_path, fingerprint(model="m", budget=1))
    res = _result()
    s.save_page(res)
    loaded = s.load_done("a.pdf", 1)
    assert loaded is not None and PageResult.from_dict(loaded).blocks[0].bbox_pt == [0.72, 1.44, 2.16, 2.88]
    assert PageResult.from_dict(loaded).info.frame == res.info.frame
    # another run's settings do not count as done
    assert Store(tmp_path, fingerprint(model="other", budget=1)).load_done("a.pdf", 1) is None
    # a page that is not there, or another source, is not done
    assert s.load_done("a.pdf", 2) is None and s.load_done("b.pdf", 1) is None
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["status"] == OK and json.loads(lines[0])["page"] == 1


def test_store_ignores_failed_and_half_written_pages(tmp_path):
    s = Store(tmp_path, "fp")
    s.save_page(_result(page=1, status=FAILED))
    assert s.load_done("a.pdf", 1) is None
    path = s.page_path("a.pdf", 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"fingerprint": "fp", "result": {"source": "a.pd')  # truncated by a crash
    assert s.load_done("a.pdf", 2) is None


def test_doc_id_is_stable_and_distinguishes_same_names(tmp_path):
    assert doc_id("x/report.pdf") == doc_id("x/report.pdf")
    assert doc_id("x/report.pdf") != doc_id("y/report.pdf")


def test_unique_names_resolve_stem_collisions():
    names = unique_names(["a/report.pdf", "b/report.pdf", "c/other.png"])
    assert names["c/other.png"] == "other"
    assert names["a/report.pdf"] != names["b/report.pdf"] and names["a/report.pdf"].startswith("report-")


def test_output_plans(tmp_path):
    src = str(tmp_path / "in.pdf")
    Path(src).write_bytes(b"%PDF")
    p = plan_outputs(str(tmp_path / "x.json"), [src], ["json"], many=False)
    assert p.mode == "file" and p.path_for(src, "json") == tmp_path / "x.json" and not p.resumable
    p = plan_outputs(str(tmp_path / "fresh"), [src], ["json"], many=False)  # a new name without suffix
    assert p.mode == "dir" and p.path_for(src, "json") == tmp_path / "fresh" / "in.json" and p.resumable
    p = plan_outputs(str(tmp_path / "out") + "/", [src], ["json", "md"], many=False)
    assert p.mode == "dir" and p.resumable and p.path_for(src, "md") == tmp_path / "out" / "in.md"
    assert plan_outputs("-", [src], ["md"], many=False).path_for(src, "md") is None
    with pytest.raises(UsageError, match="one format"):
        plan_outputs("-", [src], ["md", "json"], many=False)
    with pytest.raises(UsageError, match="overwrite the input"):
        plan_outputs(src, [src], ["json"], many=False)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UsageError, match="give a directory"):
        plan_outputs(str(tmp_path / "file.txt"), [src, src + "2"], ["json"], many=True)


def test_recorded_answer_shapes(tmp_path, monkeypatch):
    single = tmp_path / "one.txt"
    single.write_text("<p>hi</p>")
    assert load_recorded(str(single)).get("anything.png", 1) == "<p>hi</p>"
    jl = tmp_path / "raw.jsonl"
    jl.write_text('{"page": 1, "output": "one"}\n{"page": 2, "output": "two"}\n')
    ans = load_recorded(str(jl))
    assert ans.get("doc.pdf", 2) == "two" and ans.get("doc.pdf", 3) is None
    multi = tmp_path / "multi.jsonl"
    multi.write_text('{"image": "a.png", "output": "A"}\n{"image": "dir/b.png", "output": "B"}\n')
    ans = load_recorded(str(multi))
    assert ans.get("a.png", 1) == "A" and ans.get("dir/b.png", 1) == "B"
    d = tmp_path / "pages"
    d.mkdir()
    (d / "page-1.html").write_text("P1")
    (d / "page-0002.html").write_text("P2")
    assert load_recorded(str(d)).get("x.pdf", 2) == "P2"
    with pytest.raises(UsageError, match="no such file"):
        load_recorded(str(tmp_path / "missing.txt"))
    b = RecordedBackend(QWEN2_5_VL, load_recorded(str(jl)))
    out = b.generate([Request("doc.pdf#1", None, Prompt(None, "x")), Request("doc.pdf#9", None, Prompt(None, "x"))])
    assert out[0].text == "one" and out[1].finish_reason == "error" and "page 9" in out[1].error


def test_retry_plan_and_quality():
    base = Decoding(1000)
    assert next_decoding(1, _result(status=OK), base) is None
    d1 = next_decoding(1, _result(status=TRUNCATED), base)
    assert d1.max_new_tokens == 2000 and d1.repetition_penalty > 1.0
    d2 = next_decoding(2, _result(status=TRUNCATED), base)
    assert d2.max_new_tokens == 4000 and d2.temperature > 0
    r1 = next_decoding(1, _result(status=REPETITION), base)
    assert r1.max_new_tokens == 1000 and r1.repetition_penalty >= 1.1
    assert quality(_result(status=OK, blocks=1)) > quality(_result(status=TRUNCATED, blocks=9))
    assert quality(_result(status=OK, blocks=3)) > quality(_result(status=OK, blocks=2))


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os

    from vlparse.run.atomic import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "x.json", "{}")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644 and path.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind
