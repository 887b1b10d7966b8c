"""`vlparse ground` through the CLI: recorded answers of every family mapped exactly, PDFs, outputs.

The scene is a 1000x600 PNG (non-square; every family's processor resizes it: Qwen2-VL / Qwen2.5-VL to
1008x588, Qwen3-VL to 992x608, Qwen-VL to 448x448) with a red car at [200, 240, 520, 450] and a blue
circle at [670, 170, 830, 330]. The recorded answers in tests/data/ground/ box both in each family's own
coordinates (hand-computed, see tests/test_grounding_parse.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pdfs import make_pdf, word_rect_displayed

DATA = Path(__file__).parent / "data" / "ground"
CAR = [200, 240, 520, 450]
CIRCLE = [670, 170, 830, 330]
MODEL_SIZE = {"qwen-vl": (448, 448), "qwen2-vl": (1008, 588), "qwen2.5-vl": (1008, 588), "qwen3-vl": (992, 608)}


def make_scene(path: Path, size=(1000, 600)) -> Path:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (235, 238, 230))
    d = ImageDraw.Draw(img)
    d.rectangle(CAR, fill=(210, 35, 35))
    d.ellipse(CIRCLE, fill=(40, 90, 200))
    img.save(path)
    return path


def lines(stdout: str) -> list[dict]:
    return [json.loads(ln) for ln in stdout.splitlines() if ln.strip()]


@pytest.fixture
def scene(tmp_path) -> Path:
    return make_scene(tmp_path / "scene.png")


@pytest.mark.parametrize("family", list(MODEL_SIZE))
def test_recorded_answer_maps_to_hand_computed_pixels(cli, scene, family):
    res = cli("ground", scene, "red car", "blue circle", "--family", family, "--from-output", DATA / f"{family}.txt")
    assert res.exit_code == 0, res.stderr
    [rec] = lines(res.stdout)  # stdout is not a terminal here: JSON lines
    assert rec["image"] == str(scene) and rec["family"] == family
    assert (rec["width"], rec["height"]) == (1000, 600)
    assert (rec["model_width"], rec["model_height"]) == MODEL_SIZE[family]
    assert rec["warnings"] == [] and rec["status"] == "ok"
    got = {d["label"]: d for d in rec["detections"]}
    assert got["red car"]["bbox"] == pytest.approx(CAR, abs=1.0)
    assert got["blue circle"]["bbox"] == pytest.approx(CIRCLE, abs=1.0)
    assert got["red car"]["point"] is None
    assert rec["raw"] == (DATA / f"{family}.txt").read_text(encoding="utf-8")


def test_qwen25_uses_the_same_pixel_budget_as_the_run(cli, scene):
    res = cli("ground", scene, "red car", "--family", "qwen2.5-vl", "--max-pixels", "200000",
              "--from-output", DATA / "qwen2.5-vl-max200k.txt")
    assert res.exit_code == 0, res.stderr
    [rec] = lines(res.stdout)
    assert (rec["model_width"], rec["model_height"]) == (560, 336)
    assert rec["detections"][0]["bbox"] == pytest.approx(CAR, abs=1.0)


def test_pdf_page_gives_pixels_and_points(cli, tmp_path):
    from vlparse.core.families import get_family
    from vlparse.core.geometry import Budget
    from vlparse.pages.render import page_target_size

    pdf = make_pdf(tmp_path / "report.pdf", pages=3)
    fam = get_family("qwen2.5-vl")
    w, h = page_target_size(fam, 595, 842, Budget(fam.default_min_pixels(), fam.default_max_pixels("ground")))
    r = word_rect_displayed(pdf, 2, "Forecast")  # points of the displayed page
    px = [r[0] * w / 595, r[1] * h / 842, r[2] * w / 595, r[3] * h / 842]
    answer = tmp_path / "a.jsonl"
    coords = ", ".join(str(round(v)) for v in px)
    output = f'```json\n[{{"bbox_2d": [{coords}], "label": "Forecast"}}]\n```'
    answer.write_text(json.dumps({"page": 2, "output": output}) + "\n")
    res = cli("ground", pdf, "--page", "2", "Forecast", "--family", "qwen2.5-vl", "--from-output", answer)
    assert res.exit_code == 0, res.stderr
    [rec] = lines(res.stdout)
    assert rec["page"] == 2 and (rec["width"], rec["height"]) == (w, h)
    assert (rec["width_pt"], rec["height_pt"]) == (595, 842)
    det = rec["detections"][0]
    assert det["bbox"] == pytest.approx(px, abs=1.0)
    assert det["bbox_pt"] == pytest.approx(list(r), abs=1.0)
    # a plain answer file (not JSONL) serves the one page the run selects
    plain = tmp_path / "plain.txt"
    plain.write_text(output)
    res = cli("ground", pdf, "--page", "2", "Forecast", "--family", "qwen2.5-vl", "--from-output", plain)
    assert res.exit_code == 0, res.stderr
    assert lines(res.stdout)[0]["detections"][0]["bbox"] == det["bbox"]


def test_messy_answer_is_repaired_and_reported(cli, scene):
    res = cli("ground", scene, "red car", "--family", "qwen2.5-vl", "--from-output", DATA / "qwen2.5-vl-messy.txt")
    assert res.exit_code == 0, res.stderr
    [rec] = lines(res.stdout)
    assert rec["status"] == "truncated"
    assert [d["label"] for d in rec["detections"]] == ["red car", "blue circle"]
    assert rec["detections"][0]["extra"] == {"color": "red"}
    assert any("duplicate" in w for w in rec["warnings"])


@pytest.mark.parametrize("name, family", [("garbage.txt", "qwen3-vl"), ("qwen2-vl.txt", "qwen2.5-vl"),
                                          ("qwen-vl-truncated.txt", "qwen-vl")])
def test_malformed_answers_never_crash(cli, scene, name, family):
    res = cli("ground", scene, "red car", "--family", family, "--from-output", DATA / name)
    assert res.exit_code == 0, res.stderr
    assert "Traceback" not in res.stderr
    [rec] = lines(res.stdout)
    assert rec["warnings"]


def test_points_from_a_points_answer_and_from_a_box_only_family(cli, scene):
    res = cli("ground", scene, "red car", "--points", "--family", "qwen3-vl", "--from-output",
              DATA / "qwen3-vl-points.txt")
    assert res.exit_code == 0, res.stderr
    [rec] = lines(res.stdout)
    assert rec["detections"][0]["point"] == [360.0, 345.0] and rec["detections"][0]["bbox"] is None
    res = cli("ground", scene, "red car", "--points", "--family", "qwen2-vl", "--from-output", DATA / "qwen2-vl.txt")
    [rec] = lines(res.stdout)
    assert rec["detections"][0]["point"] == pytest.approx([360, 345], abs=1.0)
    assert any("box centres" in w for w in rec["warnings"])


def test_several_images_from_a_jsonl_of_answers_and_stdin_list(cli, tmp_path):
    a = make_scene(tmp_path / "a.png")
    b = make_scene(tmp_path / "b.png", size=(600, 1000))
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"image": str(a), "output": (DATA / "qwen3-vl.txt").read_text()}) + "\n"
                       + json.dumps({"image": str(b), "output": '[{"point_2d": [500, 500], "label": "middle"}]'})
                       + "\n")
    res = cli("ground", "-", "--query", "red car", "--family", "qwen3-vl", "--from-output", answers,
              stdin=f"{a}\n{b}\n")
    assert res.exit_code == 0, res.stderr
    recs = {r["image"]: r for r in lines(res.stdout)}
    assert len(recs[str(a)]["detections"]) == 2
    assert recs[str(b)]["detections"][0]["point"] == [300.0, 500.0]


def test_coco_and_overlay_outputs(cli, scene, tmp_path):
    before = hashlib.sha256(scene.read_bytes()).hexdigest()
    coco, overlays = tmp_path / "out" / "boxes.json", tmp_path / "out" / "overlays"
    res = cli("ground", scene, "red car", "blue circle", "--family", "qwen2.5-vl", "--from-output",
              DATA / "qwen2.5-vl.txt", "--coco", coco, "--overlay", overlays)
    assert res.exit_code == 0, res.stderr
    data = json.loads(coco.read_text())
    assert [i["file_name"] for i in data["images"]] == [str(scene)]
    cats = {c["id"]: c["name"] for c in data["categories"]}
    anns = {cats[a["category_id"]]: a for a in data["annotations"]}
    x, y, w, h = anns["red car"]["bbox"]
    assert [x, y, x + w, y + h] == pytest.approx(CAR, abs=1.0)
    assert anns["red car"]["area"] == pytest.approx(w * h, abs=0.01)
    from PIL import Image

    out = Image.open(overlays / "scene.overlay.png").convert("RGB")
    assert out.size == (1000, 600)
    orig = Image.open(scene).convert("RGB")
    assert out.getpixel((200, 345)) != orig.getpixel((200, 345))  # the car's left edge is drawn
    assert out.getpixel((100, 100)) == orig.getpixel((100, 100))  # far from any box: untouched
    assert hashlib.sha256(scene.read_bytes()).hexdigest() == before  # the input is never written


def test_table_on_a_terminal(cli, scene, monkeypatch):
    from vlparse.run import console

    monkeypatch.setattr(console, "stdout_is_tty", lambda: True)
    res = cli("ground", scene, "red car", "--family", "qwen3-vl", "--from-output", DATA / "qwen2.5-vl-messy.txt")
    assert res.exit_code == 0, res.stderr
    assert "red car" in res.stdout and "scene.png" in res.stdout
    assert "warning:" in res.stdout and not res.stdout.lstrip().startswith("{")
    assert "[truncated]" in res.stdout  # the status, not swallowed as Rich markup
    res = cli("ground", scene, "red car", "--json", "--family", "qwen3-vl", "--from-output", DATA / "qwen3-vl.txt")
    assert lines(res.stdout)[0]["detections"]


def test_output_file_gets_the_json_lines(cli, scene, tmp_path):
    out = tmp_path / "r.jsonl"
    res = cli("ground", scene, "red car", "--family", "qwen3-vl", "--from-output", DATA / "qwen3-vl.txt", "-o", out)
    assert res.exit_code == 0, res.stderr
    assert lines(out.read_text())[0]["detections"]


def test_from_output_without_family_is_a_usage_error(cli, scene):
    res = cli("ground", scene, "red car", "--from-output", DATA / "qwen3-vl.txt")
    assert res.exit_code == 2 and "--family" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_end_to_end_on_the_tiny_qwen25_checkpoint(cli, tiny_models, scene):
    res = cli("ground", scene, "red car", "--model", tiny_models["qwen2.5-vl"], "--max-new-tokens", "24",
              "--max-pixels", "50000", "--json")
    assert res.exit_code == 0, res.stderr
    [rec] = lines(res.stdout)
    assert rec["family"] == "qwen2.5-vl" and rec["image"] == str(scene)
    assert rec["model_width"] % 28 == 0 and rec["model_width"] * rec["model_height"] <= 50000
    assert isinstance(rec["detections"], list) and isinstance(rec["raw"], str)


def test_a_run_that_stops_early_leaves_no_partial_output_file(cli, tmp_path):
    pdf = make_pdf(tmp_path / "two.pdf", pages=2)
    answers = tmp_path / "answers.jsonl"  # page 1 only: page 2 fails, and --fail-fast stops the run there
    answers.write_text(json.dumps({"page": 1, "output": '[{"bbox_2d": [1, 2, 30, 40], "label": "x"}]'}) + "\n")
    out = tmp_path / "boxes.jsonl"
    res = cli("ground", pdf, "x", "--family", "qwen2.5-vl", "--from-output", answers, "-o", out, "--fail-fast")
    assert res.exit_code == 1 and "page 2" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "two.pdf"]
