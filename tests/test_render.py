"""Rendering at the model's native size: exact sizes, rotation, cropbox, images, bad inputs, `vlparse render`."""

import json

import pymupdf
import pytest
from PIL import Image

from pdfs import make_pdf, word_rect_displayed
from vlparse.core.errors import InputError, UsageError
from vlparse.core.families import QWEN2_5_VL, QWEN3_VL, QWEN_VL
from vlparse.core.geometry import Budget, smart_resize
from vlparse.pages.render import open_source, page_target_size, parse_page_selection


def _ink_box(img: Image.Image, region=None) -> tuple[int, int, int, int]:
    """Bounding box of dark pixels (the rendered text) in ``img`` (optionally within ``region``)."""
    gray = img.convert("L")
    if region:
        gray = gray.crop(region)
    box = gray.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None
    if region:
        box = (box[0] + region[0], box[1] + region[1], box[2] + region[0], box[3] + region[1])
    return box


def _budget(fam, task="doc"):
    return Budget(fam.default_min_pixels(), fam.default_max_pixels(task))


@pytest.mark.parametrize("fam", [QWEN2_5_VL, QWEN3_VL])
def test_pdf_page_is_rendered_at_the_size_the_processor_keeps(tmp_path, fam):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    budget = _budget(fam)
    with open_source(str(pdf)) as src:
        page = src.page(1, fam, budget)
    w, h = page.image.size
    assert w % fam.factor == 0 and h % fam.factor == 0 and w * h <= budget.max_pixels
    # the processor's own resize leaves this size unchanged: no second resampling
    assert smart_resize(h, w, fam.factor, budget.min_pixels, budget.max_pixels) == (h, w)
    assert (page.info.frame.model_width, page.info.frame.model_height) == (w, h)
    assert page.info.width_pt == 595 and page.info.height_pt == 842
    # fills the budget: one more factor step on both sides would not fit
    assert (w + fam.factor) * (h + fam.factor) > budget.max_pixels


def test_dpi_caps_the_resolution(tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    with open_source(str(pdf)) as src:
        page = src.page(1, QWEN2_5_VL, _budget(QWEN2_5_VL), dpi=72)
    assert abs(page.image.size[0] - 595) <= 14 and abs(page.image.size[1] - 842) <= 14


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_text_lands_where_the_pdf_says_rotation_included(tmp_path, rotation):
    pdf = make_pdf(tmp_path / "r.pdf", pages=1, rotate={1: rotation} if rotation else None)
    word = word_rect_displayed(pdf, 1, "Revenue")  # displayed points, top-left origin
    with open_source(str(pdf)) as src:
        page = src.page(1, QWEN2_5_VL, _budget(QWEN2_5_VL))
    f = page.info.frame
    assert page.info.rotation == rotation
    assert (f.width > f.height) == (rotation in (90, 270))
    expected_px = [word[0] / f.pt_per_px_x, word[1] / f.pt_per_px_y, word[2] / f.pt_per_px_x, word[3] / f.pt_per_px_y]
    pad = 12
    region = (int(expected_px[0]) - pad, int(expected_px[1]) - pad, int(expected_px[2]) + pad,
              int(expected_px[3]) + pad)
    ink = _ink_box(page.image, region)
    # glyph ink sits inside the font box (search_for boxes include ascender/descender space)
    assert expected_px[0] - 3 <= ink[0] and ink[2] <= expected_px[2] + 3
    assert expected_px[1] - 3 <= ink[1] and ink[3] <= expected_px[3] + 3
    # and pixels map back to the same points
    assert f.to_points(expected_px) == pytest.approx(list(word), abs=0.01)


def test_cropbox_is_honoured(tmp_path):
    doc = pymupdf.open()
    p = doc.new_page(width=595, height=842)
    p.insert_text((100, 120), "Crop", fontsize=30)
    p.set_cropbox(pymupdf.Rect(50, 50, 400, 600))
    doc.save(str(tmp_path / "c.pdf"))
    with open_source(str(tmp_path / "c.pdf")) as src:
        page = src.page(1, QWEN2_5_VL, _budget(QWEN2_5_VL))
    assert (page.info.width_pt, page.info.height_pt) == (350, 550)
    f = page.info.frame
    ink = _ink_box(page.image)
    # "Crop" starts at x=100pt on the media box, i.e. 50pt into the crop box
    assert ink[0] * f.pt_per_px_x == pytest.approx(50, abs=2.5)


def test_qwen_vl_pages_keep_their_aspect_and_the_model_gets_448_square(tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    with open_source(str(pdf)) as src:
        page = src.page(1, QWEN_VL, _budget(QWEN_VL))
    assert page.image.size == (448, 448)
    f = page.info.frame
    assert f.width / f.height == pytest.approx(595 / 842, rel=0.01)


def test_page_target_size_guards():
    from vlparse.pages.render import PageError

    with pytest.raises(PageError, match="no area"):
        page_target_size(QWEN2_5_VL, 0, 100, _budget(QWEN2_5_VL))
    with pytest.raises(PageError, match="elongated"):
        page_target_size(QWEN2_5_VL, 10, 5000, _budget(QWEN2_5_VL))


def test_images_keep_their_pixels_and_the_model_gets_the_processor_size(tmp_path):
    img = Image.new("RGBA", (1000, 600), (0, 0, 0, 0))  # transparent: composited on white
    img.paste((255, 0, 0, 255), (100, 100, 300, 200))
    img.save(tmp_path / "a.png")
    budget = _budget(QWEN2_5_VL, "ground")
    with open_source(str(tmp_path / "a.png")) as src:
        assert src.kind == "image" and src.page_count == 1
        page = src.page(1, QWEN2_5_VL, budget)
        orig = src.original_image(1)
    f = page.info.frame
    assert (f.width, f.height) == (1000, 600) and f.pt_per_px_x is None
    assert page.image.size == (f.model_width, f.model_height)
    assert smart_resize(600, 1000, 28, budget.min_pixels, budget.max_pixels) == (f.model_height, f.model_width)
    assert orig.mode == "RGB" and orig.getpixel((0, 0)) == (255, 255, 255) and orig.getpixel((150, 150)) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (400, 200), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    img.save(tmp_path / "phone.jpg", exif=exif)
    with open_source(str(tmp_path / "phone.jpg")) as src:
        page = src.page(1, QWEN2_5_VL, _budget(QWEN2_5_VL, "ground"))
    assert (page.info.frame.width, page.info.frame.height) == (200, 400)


def test_multipage_tiff_and_16_bit_scans(tmp_path):
    frames = [Image.new("L", (300, 400), v) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "scan.tif", save_all=True, append_images=frames[1:])
    with open_source(str(tmp_path / "scan.tif")) as src:
        assert src.page_count == 3
        assert src.original_image(2).getpixel((5, 5)) == (128, 128, 128)
    Image.new("I;16", (64, 64), 65535).save(tmp_path / "deep.png")
    with open_source(str(tmp_path / "deep.png")) as src:
        assert src.original_image(1).getpixel((1, 1)) == (255, 255, 255)


def test_page_selection():
    assert parse_page_selection(None, 3) == [1, 2, 3]
    assert parse_page_selection("1-2,7", 10) == [1, 2, 7]
    assert parse_page_selection("8-", 10) == [8, 9, 10]
    assert parse_page_selection("-2", 10) == [1, 2]
    assert parse_page_selection("2,2,1", 5) == [1, 2]
    assert parse_page_selection("3-9", 4) == [3, 4]  # past the end: clipped
    with pytest.raises(InputError, match="selects no page"):
        parse_page_selection("9", 4)
    with pytest.raises(UsageError, match="not a page number"):
        parse_page_selection("a-b", 4)
    with pytest.raises(UsageError, match="not a valid range"):
        parse_page_selection("5-2", 9)


@pytest.mark.parametrize("content,fragment", [
    (b"", "empty"), (b"hello, not a pdf\n", "not a PDF: named .pdf, but it is a text file"), (b"%PDF-1.7\n1 0 obj <<", "not a readable PDF"),
])
def test_bad_pdfs(tmp_path, content, fragment):
    path = tmp_path / "x.pdf"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment):
        open_source(str(path))


def test_missing_directory_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_source(str(tmp_path / "nope.pdf"))
    with pytest.raises(InputError, match="directory"):
        open_source(str(tmp_path))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="neither a PDF nor an image"):
        open_source(str(tmp_path / "notes.txt"))


def test_content_decides_the_type_not_the_name(tmp_path):
    make_pdf(tmp_path / "really-a-pdf.png", pages=1)
    with open_source(str(tmp_path / "really-a-pdf.png")) as src:
        assert src.kind == "pdf"


def test_render_command_writes_pages_and_sidecars_and_resumes(tmp_path, cli):
    pdf = make_pdf(tmp_path / "doc.pdf", pages=3, rotate={2: 90})
    out = tmp_path / "pages"
    res = cli("render", pdf, "-o", out, "--pages", "1-2", "--family", "qwen3-vl", "--jsonl")
    assert res.exit_code == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["page"] for x in lines] == [1, 2]
    meta = json.loads((out / "doc" / "page-0002.json").read_text())
    img = Image.open(out / "doc" / "page-0002.png")
    assert img.size == (meta["width_px"], meta["height_px"]) and img.size[0] % 32 == 0
    assert meta["rotation"] == 90 and meta["width_pt"] == 842 and meta["family"] == "qwen3-vl"
    assert meta["max_pixels"] == QWEN3_VL.default_max_pixels("doc")
    assert meta["zoom_x"] == pytest.approx(meta["width_px"] / 842)
    before = (out / "doc" / "page-0001.png").stat().st_mtime_ns
    res = cli("render", pdf, "-o", out, "--pages", "1-2", "--family", "qwen3-vl")
    assert res.exit_code == 0 and "2 already there" in res.stderr
    assert (out / "doc" / "page-0001.png").stat().st_mtime_ns == before
    res = cli("render", pdf, tmp_path / "missing.pdf", "-o", out)
    assert res.exit_code == 1 and "missing.pdf: no such file" in res.stderr


def test_render_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    code = ("import sys\nfrom vlparse.cli import main\nrc = main(['render', sys.argv[1], '-o', sys.argv[2], '-q'])\n"
            "assert rc == 0, rc\nassert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code, str(pdf), str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_inputs_from_directories_globs_and_stdin(tmp_path):
    import io

    from vlparse.pages.inputs import expand_inputs

    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/a.pdf", "d/b.png", "d/sub/c.jpg", "d/notes.txt", "d/.hidden.pdf"):
        (tmp_path / name).write_bytes(b"x")
    flat = expand_inputs([str(tmp_path / "d")])
    assert [p.split("/")[-1] for p in flat.paths] == ["a.pdf", "b.png"]
    deep = expand_inputs([str(tmp_path / "d")], recursive=True)
    assert [p.split("/")[-1] for p in deep.paths] == ["a.pdf", "b.png", "c.jpg"]
    globbed = expand_inputs([str(tmp_path / "d" / "*.p*")])
    assert [p.split("/")[-1] for p in globbed.paths] == ["a.pdf", "b.png"]
    listed = expand_inputs(["-"], stdin=io.StringIO(f"{tmp_path}/d/a.pdf\n\n# comment\n{tmp_path}/d/a.pdf\nnope.pdf\n"))
    assert listed.paths == [f"{tmp_path}/d/a.pdf"] and listed.problems == [("nope.pdf", "no such file")]


def test_render_in_parallel_processes_keeps_page_order(tmp_path, cli):
    pdf = make_pdf(tmp_path / "many.pdf", pages=6)
    res = cli("render", pdf, "-o", tmp_path / "out", "-j", "2", "--jsonl", "--max-pixels", "200000")
    assert res.exit_code == 0, res.stderr
    assert [json.loads(x)["page"] for x in res.stdout.splitlines()] == [1, 2, 3, 4, 5, 6]
    for n in range(1, 7):
        meta = json.loads((tmp_path / "out" / "many" / f"page-{n:04d}.json").read_text())
        assert Image.open(tmp_path / "out" / "many" / meta["image"]).size == (meta["width_px"], meta["height_px"])


def test_grey_pages_are_written_as_one_channel_pngs_with_the_same_pixels(tmp_path, cli):
    from vlparse.run.render_job import compact

    colour = Image.new("RGB", (40, 30), "white")
    colour.putpixel((3, 3), (200, 10, 10))
    assert compact(colour) is colour
    grey = Image.new("RGB", (40, 30), (90, 90, 90))
    assert compact(grey).mode == "L" and compact(grey).convert("RGB").tobytes() == grey.tobytes()
    pdf = make_pdf(tmp_path / "g.pdf", pages=1)
    res = cli("render", pdf, "-o", tmp_path / "out")
    assert res.exit_code == 0
    meta = json.loads((tmp_path / "out" / "g" / "page-0001.json").read_text())
    png = Image.open(tmp_path / "out" / "g" / "page-0001.png")
    assert png.mode == meta["mode"] == "L"
    with open_source(str(pdf)) as src:
        page = src.page(1, QWEN2_5_VL, Budget(meta["min_pixels"], meta["max_pixels"]))
    assert png.convert("RGB").tobytes() == page.image.tobytes()
