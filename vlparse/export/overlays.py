"""Pictures that show what vlparse found: boxes, points and blocks drawn on a copy of each page.

- ``vlparse ground --overlay DIR``: every detection's box (and point) with its label, one colour per label,
  on a copy of the original image (a PDF page: the page rendered at the size of its pixel space).
- ``vlparse doc --overlay DIR``: per page, every block's box in the colour of its type (:func:`colour_for`),
  lightly filled, with a legend of the types on the page.

The inputs are only ever read; every PNG is written atomically under the output directory, named
``<name>.overlay.png`` (an image) or ``<name>-p<N>.overlay.png`` (a page of a PDF or multi-frame TIFF).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from vlparse.run.atomic import atomic_save_image
from vlparse.core.results import FAILED, Document, PageResult

#: one fixed colour per block type (see vlparse.parse.schema.BLOCK_TYPES)
BLOCK_COLOURS: dict[str, tuple[int, int, int]] = {
    "heading": (214, 39, 40),
    "paragraph": (31, 119, 180),
    "list": (44, 160, 44),
    "list_item": (106, 190, 96),
    "table": (255, 127, 14),
    "figure": (148, 103, 189),
    "caption": (188, 128, 189),
    "chart": (140, 86, 75),
    "formula": (227, 119, 194),
    "chemical_formula": (206, 109, 189),
    "music_sheet": (188, 189, 34),
    "code": (23, 190, 207),
    "header": (57, 59, 121),
    "footer": (82, 84, 163),
    "page_number": (107, 110, 207),
    "footnote": (99, 121, 57),
    "quote": (140, 162, 82),
    "other": (127, 127, 127),
}
#: colours for labels and for block types outside the palette (Tableau 10)
LABEL_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (0, 130, 200), (60, 180, 75), (245, 130, 48), (145, 30, 180),
    (70, 200, 200), (240, 50, 230), (128, 128, 0), (0, 0, 128), (170, 110, 40),
)


def colour_for(block_type: str) -> tuple[int, int, int]:
    """The overlay/review colour of a block type; unknown types get a stable colour from their name."""
    if block_type in BLOCK_COLOURS:
        return BLOCK_COLOURS[block_type]
    return LABEL_COLOURS[zlib.crc32(block_type.encode("utf-8")) % len(LABEL_COLOURS)]


# -- drawing helpers ---------------------------------------------------------------------------------


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _scale(image) -> tuple[int, int]:
    """(line width, font size) that stay legible from thumbnails to 300-dpi pages."""
    side = max(image.size)
    return max(2, round(side / 400)), min(40, max(12, round(side / 55)))


def _ink_on(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def _tag(draw, xy: tuple[float, float], text: str, colour, font, image_size, above: bool = True) -> None:
    """A filled label: above ``xy`` when it fits, else just inside."""
    if not text:
        return
    x, y = xy
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    pad = max(2, th // 5)
    w, h = tw + 2 * pad, th + 2 * pad
    x = min(max(0, x), max(0, image_size[0] - w))
    y = y - h if above and y - h >= 0 else y
    y = min(max(0, y), max(0, image_size[1] - h))
    draw.rectangle([x, y, x + w, y + h], fill=colour)
    draw.text((x + pad - left, y + pad - top), text, fill=_ink_on(colour), font=font)


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _page_name(name: str, result: PageResult) -> str:
    return f"{name}-p{result.info.page}" if result.info.kind == "pdf" or result.info.page > 1 else name


def _by_source(results: Iterable[PageResult]) -> dict[str, list[PageResult]]:
    groups: dict[str, list[PageResult]] = {}
    for r in results:
        if r.status == FAILED or not r.info.width_px or not r.info.height_px:
            continue
        groups.setdefault(r.info.source, []).append(r)
    return groups


def _page_images(source: str, results: Sequence[PageResult], password: str | None):
    """(result, its page image in its pixel space) for each result that has one."""
    from vlparse.pages.render import iter_page_images

    for r, img in zip(results, iter_page_images(source, [r.info for r in results], password)):
        if img is not None:
            yield r, img


# -- ground ------------------------------------------------------------------------------------------


def draw_detections(image, result: PageResult, colours: dict[str, tuple[int, int, int]]):
    """Draw ``result``'s detections on ``image`` (in place) and return it."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    lw, fs = _scale(image)
    font = _font(fs)
    for det in result.detections:
        colour = colours.setdefault(det.label, LABEL_COLOURS[len(colours) % len(LABEL_COLOURS)])
        label = _short(det.label)
        if det.bbox is not None:
            x1, y1, x2, y2 = det.bbox
            # a white halo under the coloured line keeps the box visible on any background
            draw.rectangle([x1 - 1, y1 - 1, x2 + 1, y2 + 1], outline=(255, 255, 255), width=lw + 2)
            draw.rectangle([x1, y1, x2, y2], outline=colour, width=lw)
        if det.point is not None:
            x, y = det.point
            r = max(4, round(lw * 2.5))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(255, 255, 255), width=max(1, lw // 2))
        if det.bbox is not None:
            _tag(draw, (det.bbox[0], det.bbox[1]), label, colour, font, image.size)
        elif det.point is not None:
            _tag(draw, (det.point[0] + lw * 3, det.point[1] + lw * 3), label, colour, font, image.size, above=False)
    return image


def write_detection_overlays(results: Sequence[PageResult], out_dir: str | Path, names: dict[str, str], *,
                             password: str | None = None) -> list[Path]:
    """One PNG per image (or PDF page) with its detections drawn; returns the files written."""
    out = Path(out_dir)
    colours: dict[str, tuple[int, int, int]] = {}  # one colour per label across the run
    written = []
    for source, group in _by_source(results).items():
        name = names.get(source) or Path(source).stem or "image"
        for r, img in _page_images(source, group, password):
            draw_detections(img, r, colours)
            written.append(atomic_save_image(out / f"{_page_name(name, r)}.overlay.png", img))
    return written


# -- doc ---------------------------------------------------------------------------------------------


def draw_blocks(image, result: PageResult, labels: bool = False):
    """``image`` (RGB) with ``result``'s blocks drawn in their type colours and a legend; a new image.

    ``labels``: also write each block's type on its box (``vlparse extract``: the field's name)."""
    from PIL import Image, ImageDraw

    lw, fs = _scale(image)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    present: list[str] = []
    for block in result.blocks:
        if block.bbox_px is None:
            continue
        colour = colour_for(block.type)
        if block.type not in present:
            present.append(block.type)
        x1, y1, x2, y2 = block.bbox_px
        draw.rectangle([x1, y1, x2, y2], fill=(*colour, 40), outline=(*colour, 255), width=lw)
        if labels:
            _tag(draw, (x1, y1), _short(block.type), colour, _font(max(11, round(fs * 0.7))), image.size)
    if present:
        _legend(draw, present, _font(max(11, round(fs * 0.7))), image.size)
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


def _legend(draw, types: list[str], font, size: tuple[int, int]) -> None:
    """A small key in the top-right corner: a swatch and the name of each type on the page."""
    boxes = [draw.textbbox((0, 0), t, font=font) for t in types]
    th = max(b[3] - b[1] for b in boxes)
    tw = max(b[2] - b[0] for b in boxes)
    pad = max(3, th // 3)
    sw = th  # swatch side
    width = pad * 3 + sw + tw
    height = pad + len(types) * (th + pad)
    x0 = max(0, size[0] - width - pad)
    y0 = pad
    draw.rectangle([x0, y0, x0 + width, y0 + height], fill=(255, 255, 255, 215), outline=(0, 0, 0, 160), width=1)
    for i, (t, b) in enumerate(zip(types, boxes)):
        y = y0 + pad + i * (th + pad)
        draw.rectangle([x0 + pad, y, x0 + pad + sw, y + th], fill=(*colour_for(t), 255))
        draw.text((x0 + 2 * pad + sw - b[0], y - b[1]), t, fill=(0, 0, 0, 255), font=font)


def write_block_overlays(doc: Document, out_dir: str | Path, base_name: str | None = None, *,
                         password: str | None = None, images: Sequence | None = None,
                         labels: bool = False, keep_existing: bool = False) -> list[Path]:
    """Per page of ``doc``, a PNG with its blocks drawn (type colours, legend); returns the files written.

    ``images``: the pages' images (as :func:`vlparse.pages.render.page_images` gives them), when already rendered.
    """
    from vlparse.pages.render import iter_page_images

    out = Path(out_dir)
    name = base_name or Path(doc.source).stem or "document"
    if images is None:  # one page at a time
        images = iter_page_images(doc.source, [p.info for p in doc.pages], password)
    drawn = [r for r in doc.pages if r.status != FAILED and r.info.width_px and r.info.height_px]
    targets = {r.info.page: out / f"{name}-p{r.info.page}.overlay.png" for r in drawn}
    if keep_existing and all(t.is_file() for t in targets.values()):  # a rerun that redid nothing
        return list(targets.values())
    written = []
    for r, img in zip(doc.pages, images):
        if img is not None and r.status != FAILED:
            written.append(atomic_save_image(targets[r.info.page], draw_blocks(img, r, labels)))
    return written
