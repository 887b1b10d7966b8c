"""The grounding parsers: four coordinate languages, messy answers, exact mapping, never a crash.

Recorded answers live in tests/data/ground/ (each family's real format). They box the same two
objects of a 1000x600 scene: the red car at [200, 240, 520, 450] and the blue circle at
[670, 170, 830, 330] (original pixels). Coordinates in each file were computed by hand:
- 0-1000 families: x * 1000 / 1000, y * 1000 / 600 (car -> (200,400),(520,750));
- Qwen2.5-VL: pixels of the 1008x588 image the processor makes of 1000x600 (factor 28, default budget):
  x * 1008 / 1000, y * 588 / 600, rounded (car -> [202, 235, 524, 441]).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vlparse.core.families import get_family
from vlparse.core.geometry import Frame
from vlparse.parse.grounding import parse_grounding

DATA = Path(__file__).parent / "data" / "ground"
CAR = [200, 240, 520, 450]
CIRCLE = [670, 170, 830, 330]
# the frame each family sees for the 1000x600 scene at the default ground budget
FRAMES = {
    "qwen-vl": Frame(1000, 600, 448, 448),
    "qwen2-vl": Frame(1000, 600, 1008, 588),
    "qwen2.5-vl": Frame(1000, 600, 1008, 588),
    "qwen3-vl": Frame(1000, 600, 992, 608),
}


def parse(name: str, family: str, want: str = "bbox", frame: Frame | None = None, **kw):
    is_file = name.endswith(".txt") and "\n" not in name and (DATA / name).is_file()
    text = (DATA / name).read_text(encoding="utf-8") if is_file else name
    return parse_grounding(text, get_family(family), frame or FRAMES[family], want=want, **kw)


def boxes(g) -> dict[str, list[float]]:
    return {d.label: d.bbox for d in g.detections}


@pytest.mark.parametrize("family", list(FRAMES))
def test_each_family_maps_its_clean_answer_to_original_pixels(family):
    g = parse(f"{family}.txt", family)
    assert g.warnings == [] and not g.truncated
    b = boxes(g)
    assert set(b) == {"red car", "blue circle"}
    assert b["red car"] == pytest.approx(CAR, abs=1.0)
    assert b["blue circle"] == pytest.approx(CIRCLE, abs=1.0)


def test_qwen25_coordinates_are_pixels_of_the_resized_image_exactly():
    g = parse("qwen2.5-vl.txt", "qwen2.5-vl")
    # 202 * 1000/1008, 235 * 600/588, 524 * 1000/1008, 441 * 600/588
    assert boxes(g)["red car"] == [200.4, 239.8, 519.84, 450.0]


def test_qwen25_answer_depends_on_the_pixel_budget():
    # with --max-pixels 200000 the processor makes 560x336 of the scene
    g = parse("qwen2.5-vl-max200k.txt", "qwen2.5-vl", frame=Frame(1000, 600, 560, 336))
    assert boxes(g)["red car"] == pytest.approx(CAR, abs=1.0)
    wrong = parse("qwen2.5-vl-max200k.txt", "qwen2.5-vl")
    assert boxes(wrong)["red car"] != pytest.approx(CAR, abs=5.0)


def test_pdf_frames_give_points_too():
    frame = Frame(1000, 600, 1008, 588, pt_per_px_x=0.5, pt_per_px_y=0.5)
    d = parse("qwen2.5-vl.txt", "qwen2.5-vl", frame=frame).detections[0]
    assert d.bbox_pt == [round(v * 0.5, 2) for v in d.bbox]
    assert parse("qwen2.5-vl.txt", "qwen2.5-vl").detections[0].bbox_pt is None


def test_messy_answer_chatter_quotes_commas_duplicate_extra_keys_truncation():
    g = parse("qwen2.5-vl-messy.txt", "qwen2.5-vl")
    assert [d.label for d in g.detections] == ["red car", "blue circle"]
    assert boxes(g)["red car"] == pytest.approx(CAR, abs=1.0)
    assert g.detections[0].extra == {"color": "red"}
    assert g.truncated
    text = " | ".join(g.warnings)
    assert "single quotes" in text and "trailing commas" in text
    assert "duplicate of 'red car'" in text
    assert "cut off" in text
    # the cut-off element [10, 20, 3 is dropped, not completed
    assert all(d.bbox[0] > 100 for d in g.detections)


def test_text_spotting_uses_text_content_as_label_and_keeps_it():
    g = parse("qwen2.5-vl-textspot.txt", "qwen2.5-vl")
    assert [d.label for d in g.detections] == ["NORTHWIND", "01 Jun 2018 18:41"]
    assert g.detections[0].extra == {"text_content": "NORTHWIND"}
    assert any("trailing commas" in w for w in g.warnings)
    assert not g.truncated


def test_points_in_0_1000():
    g = parse("qwen3-vl-points.txt", "qwen3-vl", want="point")
    pts = {d.label: d.point for d in g.detections}
    assert pts["red car"] == [360.0, 345.0]
    assert pts["blue circle"] == pytest.approx([750, 250], abs=1.0)
    assert all(d.bbox is None for d in g.detections) and g.warnings == []


def test_qwen25_xml_points_of_the_cookbook():
    g = parse("qwen2.5-vl-xmlpoints.txt", "qwen2.5-vl", want="point")
    assert [d.label for d in g.detections] == ["red car"]
    assert g.detections[0].point == pytest.approx([360.12, 344.9], abs=0.01)
    assert g.warnings == []


def test_nested_objects_box_as_string_and_chatter():
    g = parse("qwen3-vl-nested.txt", "qwen3-vl")
    assert boxes(g)["red car"] == pytest.approx(CAR, abs=1.0)
    assert g.detections[0].extra == {"confidence": 0.9}
    assert any("written as text" in w for w in g.warnings)


def test_bare_objects_one_per_line():
    g = parse("qwen3-vl-lines.txt", "qwen3-vl")
    assert set(boxes(g)) == {"red car", "blue circle"}
    assert g.warnings == []


def test_qwen25_answer_in_the_wrong_space_is_flagged():
    g = parse("qwen2.5-vl-wrongspace.txt", "qwen2.5-vl")
    assert any("outside the 1008x588 image the model saw" in w and "0-1000" in w for w in g.warnings)


def test_qwen3_answer_beyond_1000_is_flagged():
    g = parse('[{"bbox_2d": [100, 100, 1500, 900], "label": "x"}]', "qwen3-vl")
    assert any("beyond 1000" in w for w in g.warnings)
    assert g.detections[0].bbox[2] == 1000  # clipped to the image, with its own warning
    assert any("clipped" in w for w in g.warnings)


def test_qwen2_answer_with_stripped_special_tokens():
    g = parse("qwen2-vl-stripped.txt", "qwen2-vl")
    assert boxes(g)["red car"] == pytest.approx(CAR, abs=1.0)
    assert any("special tokens stripped" in w for w in g.warnings)


def test_qwen_vl_truncated_box_keeps_the_complete_ones():
    g = parse("qwen-vl-truncated.txt", "qwen-vl")
    assert g.truncated and list(boxes(g)) == ["red car"]


def test_qwen_vl_several_boxes_after_one_ref_and_quads():
    text = ("<ref> Two apples</ref><box>(302,257),(582,671)</box><box>(603,252),(878,642)</box> and"
            "<ref> a bowl</ref><box>(2,269),(304,674)</box><ref>SALE</ref><quad>(100,100),(300,110),(298,200),(98,190)</quad>")
    g = parse(text, "qwen-vl")
    assert [d.label for d in g.detections] == ["Two apples", "Two apples", "a bowl", "SALE"]
    sale = g.detections[3]
    assert sale.bbox == [98.0, 60.0, 300.0, 120.0]  # the quad's enclosing box (600 px high image)
    assert sale.extra["quad"][:2] == [100.0, 60.0]


def test_family_mismatch_is_explained():
    g = parse("qwen2-vl.txt", "qwen2.5-vl")
    assert g.detections == [] and "check --family" in g.warnings[0]
    g = parse("qwen3-vl.txt", "qwen2-vl")
    assert g.detections == [] and "check --family" in g.warnings[0]


def test_garbage_gives_a_warning_not_an_error():
    g = parse("garbage.txt", "qwen3-vl")
    assert g.detections == [] and len(g.warnings) == 1 and "no detections" in g.warnings[0]


@pytest.mark.parametrize("text", ["", "[]", "```json\n[]\n```", "{}"])
def test_empty_answers_are_quietly_empty(text):
    g = parse(text, "qwen2.5-vl")
    assert g.detections == [] and g.warnings == []


def test_points_asked_from_a_box_only_family_are_box_centres():
    g = parse("qwen2-vl.txt", "qwen2-vl", want="point")
    car = g.detections[0]
    assert car.point == [(car.bbox[0] + car.bbox[2]) / 2, (car.bbox[1] + car.bbox[3]) / 2]
    assert sum("box centres" in w for w in g.warnings) == 1


def test_unlabelled_detections_take_the_single_query():
    g = parse('[{"bbox_2d": [200, 400, 520, 750]}]', "qwen3-vl", queries=["red car"])
    assert g.detections[0].label == "red car" and any("query" in w for w in g.warnings)
    g = parse('[{"bbox_2d": [200, 400, 520, 750]}]', "qwen3-vl", queries=["a", "b"])
    assert g.detections[0].label == ""


@pytest.mark.parametrize("text, fragment", [
    ('[{"bbox_2d": [1, 2, 3], "label": "x"}]', "malformed box"),
    ('[{"bbox_2d": null, "label": "x"}]', "malformed box"),
    ('[{"bbox_2d": [true, 2, 3, 4], "label": "x"}]', "malformed box"),
    ('[{"bbox_2d": [NaN, 2, 300, 400], "label": "x"}]', "malformed box"),
    ('[{"bbox_2d": [300, 400, 100, 200], "label": "x"}]', "swapped corners"),
    ('[{"bbox_2d": [100, 100, 100, 300], "label": "x"}]', "degenerate"),
    ('[{"point_2d": [1200, 50], "label": "x"}]', "outside"),
    ('[{"bbox_2d": ["200", "400", "520", "750"], "label": "x"}]', "written as text"),
    ('[{"bbox_2d": [[200, 400], [520, 750]], "label": "x"}]', "corner pairs"),
    ('[200, 400, 520, 750]', "bare coordinate list"),
])
def test_each_repair_or_rejection_says_so(text, fragment):
    g = parse(text, "qwen3-vl")
    assert any(fragment in w for w in g.warnings), g.warnings
    for d in g.detections:  # whatever is kept is a valid box inside the image
        x1, y1, x2, y2 = d.bbox
        assert 0 <= x1 < x2 <= 1000 and 0 <= y1 < y2 <= 600


def test_several_boxes_under_one_label_and_label_keyed_boxes():
    g = parse('[{"bbox_2d": [[0, 0, 100, 100], [200, 200, 300, 300]], "label": "dot"}]', "qwen3-vl")
    assert [d.label for d in g.detections] == ["dot", "dot"]
    g = parse('{"red car": [200, 400, 520, 750]}', "qwen3-vl")
    assert boxes(g)["red car"] == pytest.approx(CAR, abs=1.0)


def test_near_duplicates_go_distinct_neighbours_stay():
    text = ('[{"bbox_2d": [200, 400, 520, 750], "label": "car"}, {"bbox_2d": [201, 401, 521, 751], "label": "car"},'
            ' {"bbox_2d": [530, 400, 800, 750], "label": "car"}, {"bbox_2d": [200, 400, 520, 750], "label": "bus"}]')
    g = parse(text, "qwen3-vl")
    assert [d.label for d in g.detections] == ["car", "car", "bus"]
    assert sum("near duplicate" in w for w in g.warnings) == 1


def test_a_looping_answer_does_not_flood_the_warnings():
    text = "[" + ", ".join('{"bbox_2d": [200, 400, 520, 750], "label": "car"}' for _ in range(50)) + "]"
    g = parse(text, "qwen3-vl")
    assert len(g.detections) == 1 and len(g.warnings) <= 6


@pytest.mark.parametrize("name, family", [
    ("qwen2.5-vl.txt", "qwen2.5-vl"), ("qwen2.5-vl-messy.txt", "qwen2.5-vl"), ("qwen2.5-vl-textspot.txt", "qwen2.5-vl"),
    ("qwen3-vl.txt", "qwen3-vl"), ("qwen3-vl-nested.txt", "qwen3-vl"), ("qwen3-vl-lines.txt", "qwen3-vl"),
    ("qwen2-vl.txt", "qwen2-vl"), ("qwen-vl.txt", "qwen-vl"), ("qwen2.5-vl-xmlpoints.txt", "qwen2.5-vl"),
])
def test_every_prefix_of_an_answer_parses_and_invents_nothing(name, family):
    """A cut at any character (the token limit) never raises and never yields a coordinate the full answer lacks."""
    text = (DATA / name).read_text(encoding="utf-8")
    full = parse(text, family)
    known = [(d.label, d.bbox, d.point) for d in full.detections]
    for cut in range(len(text) + 1):
        g = parse(text[:cut], family)
        for d in g.detections:
            assert (d.label, d.bbox, d.point) in known, (cut, text[:cut])


@pytest.mark.parametrize("text", [
    "```json\n[{\"bbox_2d\": [1, 2, 3, 4]}]```[{",  # fence then junk
    "{" * 500, "[" * 500 + "1", "]]]}}}", "'\"'\"'", "\x00\x01\x02 bbox_2d", "<ref><ref><box>(((", "<|box_start|>" * 10,
    '[{"bbox_2d": [1e308, 1e308, -1e308, 5], "label": {"nested": ["x"]}}]', "```json\n",
    '[{"point_2d": "here", "label": 5}]', '{"objects": {"more": {"bbox_2d": [1, 2, 300, 400]}}}',
])
@pytest.mark.parametrize("family", list(FRAMES))
def test_malformed_answers_never_raise(text, family):
    g = parse(text, family)
    for d in g.detections:
        coords = (d.bbox or []) + (d.point or [])
        assert all(math.isfinite(v) for v in coords)


@pytest.mark.parametrize("cut_after", ['"red car"}', '"red car"},', '"red car"},\n\t{"bbox_2d": [675, 167, 837'])
def test_a_list_cut_between_elements_keeps_every_complete_one(cut_after):
    text = (DATA / "qwen2.5-vl.txt").read_text(encoding="utf-8")
    g = parse(text[:text.index(cut_after) + len(cut_after)], "qwen2.5-vl")
    assert list(boxes(g)) == ["red car"] and g.truncated


def test_nested_list_cut_after_a_complete_object_keeps_it():
    g = parse('{"objects": [{"bbox_2d": [200, 400, 520, 750], "label": "red car"}, ', "qwen3-vl")
    assert list(boxes(g)) == ["red car"] and g.truncated
    g = parse('{"bbox_2d": [200, 400, 520, 75', "qwen3-vl")  # a lone object cut inside: nothing kept
    assert g.detections == [] and g.truncated


def test_an_unclosed_box_mid_answer_does_not_swallow_the_next_one():
    g = parse("<ref>a</ref><box>(1,2),(3 <ref>car</ref><box>(200,400),(520,750)</box>", "qwen-vl")
    assert [(d.label, d.bbox) for d in g.detections] == [("car", pytest.approx(CAR, abs=1.0))]
