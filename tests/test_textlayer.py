"""The PDF text layer as words in bbox_pt space (rotation and cropbox applied), and its kind."""

import pymupdf
import pytest
from PIL import Image

from vlparse.core.families import QWEN2_5_VL
from vlparse.core.geometry import Budget
from vlparse.pages.render import open_source
from vlparse.pages.textlayer import TextKind, page_text_layer, page_words


def _doc(path, *, rotation=0, cropbox=None, mediabox=None, invisible=False, text=True):
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    if mediabox:
        page.set_mediabox(pymupdf.Rect(*mediabox))
    if text:
        page.insert_text((60, 120), "Alpha beta gamma", fontsize=14, render_mode=3 if invisible else 0)
        page.insert_text((60, 300), "Delta", fontsize=30, render_mode=3 if invisible else 0)
    if cropbox:
        page.set_cropbox(pymupdf.Rect(*cropbox))
    page.set_rotation(rotation)
    doc.save(str(path))
    doc.close()
    return path


def _ink_box(img: Image.Image, region) -> tuple[int, int, int, int]:
    gray = img.convert("L").crop(region)
    box = gray.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None
    return box[0] + region[0], box[1] + region[1], box[2] + region[0], box[3] + region[1]


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("crop", [None, (25, 40, 380, 560)])
def test_word_boxes_sit_on_the_rendered_ink(tmp_path, rotation, crop):
    """The word box (points of the displayed page) scaled to the rendered page's pixels covers the word's ink."""
    pdf = _doc(tmp_path / "a.pdf", rotation=rotation, cropbox=crop)
    words = page_words(str(pdf), 1)
    assert [w.text for w in words] == ["Alpha", "beta", "gamma", "Delta"]
    delta = words[3]
    with open_source(str(pdf)) as src:
        page = src.page(1, QWEN2_5_VL, Budget(3136, 1_000_000))
    info, img = page.info, page.image
    assert (round(info.width_pt), round(info.height_pt)) == ((600, 400) if rotation % 180 else (400, 600)) \
        if crop is None else ((520, 355) if rotation % 180 else (355, 520))
    sx, sy = info.width_px / info.width_pt, info.height_px / info.height_pt
    x0, y0, x1, y1 = delta.bbox_pt
    region = (max(0, int(x0 * sx) - 4), max(0, int(y0 * sy) - 4), int(x1 * sx) + 4, int(y1 * sy) + 4)
    ink = _ink_box(img, region)
    # the ink lies inside the word box (the box includes the font's ascent and descent) and fills most of it
    # along the writing direction
    assert x0 * sx - 2 <= ink[0] and ink[2] <= x1 * sx + 2 and y0 * sy - 2 <= ink[1] and ink[3] <= y1 * sy + 2
    along = (ink[2] - ink[0]) / ((x1 - x0) * sx) if rotation % 180 == 0 else (ink[3] - ink[1]) / ((y1 - y0) * sy)
    assert along > 0.8


def test_mediabox_with_an_offset_origin(tmp_path):
    pdf = _doc(tmp_path / "a.pdf", mediabox=(100, 200, 500, 800))
    layer = page_text_layer(str(pdf), 1)
    assert layer.kind is TextKind.TEXT and (layer.width_pt, layer.height_pt) == (400, 600)
    with pymupdf.open(str(pdf)) as doc:
        ref = doc[0].search_for("Delta")[0]
    assert layer.words[3].bbox_pt == pytest.approx((ref.x0, ref.y0, ref.x1, ref.y1), abs=0.05)


def test_kinds_of_text_layer(tmp_path):
    assert page_text_layer(str(_doc(tmp_path / "t.pdf")), 1).kind is TextKind.TEXT
    none = page_text_layer(str(_doc(tmp_path / "n.pdf", text=False)), 1)
    assert none.kind is TextKind.NONE and none.words == [] and none.hidden == []
    ocr = page_text_layer(str(_doc(tmp_path / "o.pdf", invisible=True)), 1)
    assert ocr.kind is TextKind.INVISIBLE and ocr.words == [] and [w.text for w in ocr.hidden][:1] == ["Alpha"]
    assert page_words(str(tmp_path / "o.pdf"), 1) == []


def test_visible_text_over_a_partly_invisible_layer(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    page.insert_text((60, 120), "Printed heading", fontsize=14)
    page.insert_text((60, 300), "ocr words below", fontsize=14, render_mode=3)
    doc.save(str(tmp_path / "m.pdf"))
    layer = page_text_layer(str(tmp_path / "m.pdf"), 1)
    assert layer.kind is TextKind.TEXT
    assert [w.text for w in layer.words] == ["Printed", "heading"]
    assert [w.text for w in layer.hidden] == ["ocr", "words", "below"]


@pytest.mark.parametrize("rotation", [0, 90, 270])
def test_the_text_read_from_the_rendering_equals_the_text_read_from_the_page(tmp_path, rotation):
    """doc reads the layer from the display list it rendered from; both ways give the same words and boxes."""
    pdf = _doc(tmp_path / "a.pdf", rotation=rotation, cropbox=(25, 40, 380, 560))
    with open_source(str(pdf)) as src:
        src.page(1, QWEN2_5_VL, Budget(3136, 500_000))
        assert src._last_dlist is not None
        from_render = src.text_layer(1)
        assert src._last_dlist is None
        from_page = src.text_layer(1)
    assert [w.text for w in from_render.words] == [w.text for w in from_page.words] == \
        ["Alpha", "beta", "gamma", "Delta"]
    for a, b in zip(from_render.words, from_page.words):
        assert a.bbox_pt == pytest.approx(b.bbox_pt, abs=0.01)
