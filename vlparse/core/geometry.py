"""Pure geometry: the processor's resize, and model coordinates <-> image pixels <-> PDF points.

One source of truth for "what size did the model see" and "where is that box on the page".
No imports beyond the standard library, so commands that need no model start fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlparse.core.families import ABSOLUTE, REL1000, Family

MAX_ASPECT_RATIO = 200  # the Qwen processors refuse images more elongated than this
#: the largest pixel budget: the decompression-bomb limit of inputs (pages.render.MAX_IMAGE_PIXELS); above it
#: a PDF page renders, or an image is upscaled to, gigabytes before any model sees it
MAX_BUDGET_PIXELS = 179_000_000


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The Qwen processors' resize, bit for bit (transformers' ``smart_resize``).

    Returns ``(height, width)``: both multiples of ``factor``, pixel count within
    ``[min_pixels, max_pixels]``, aspect ratio kept as closely as possible.
    """
    if min(height, width) <= 0:
        raise ValueError(f"image has no pixels ({width}x{height})")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class Budget:
    """The pixel budget of a run: the same numbers go to rendering and to the processor."""

    min_pixels: int
    max_pixels: int

    def __post_init__(self):
        if self.min_pixels <= 0 or self.max_pixels <= 0:
            raise ValueError("pixel budgets must be positive")
        if max(self.min_pixels, self.max_pixels) > MAX_BUDGET_PIXELS:
            raise ValueError(f"pixel budgets above {MAX_BUDGET_PIXELS:,} pixels are not supported (got "
                             f"--min-pixels {self.min_pixels:,}, --max-pixels {self.max_pixels:,})")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"--min-pixels ({self.min_pixels}) is larger than --max-pixels ({self.max_pixels})")


def model_size(family: Family, width: int, height: int, budget: Budget) -> tuple[int, int]:
    """(width, height) of the image the model sees for an input of ``width`` x ``height``."""
    if family.fixed_size:
        return family.fixed_size, family.fixed_size
    h, w = smart_resize(height, width, family.factor, budget.min_pixels, budget.max_pixels)
    # the processor resizes the image it is given once more: the size must be a fixed point of the resize, which
    # it is unless the budget is so narrow that flooring below max_pixels lands under min_pixels
    for _ in range(4):
        again = smart_resize(h, w, family.factor, budget.min_pixels, budget.max_pixels)
        if again == (h, w):
            return w, h
        h, w = again
    raise ValueError(f"no size on the {family.factor}-pixel grid lies between {budget.min_pixels:,} and "
                     f"{budget.max_pixels:,} pixels for a {width:g}x{height:g} image; widen --min-pixels/--max-pixels")


@dataclass(frozen=True)
class Frame:
    """How one image was seen: original pixels, model pixels, and (PDFs) points per pixel."""

    width: int  # original image / rendered page, in pixels (the space of ``bbox_px``)
    height: int
    model_width: int  # the image as the model saw it (after the processor's resize)
    model_height: int
    pt_per_px_x: float | None = None  # PDFs: points per pixel along x (72 / dpi_x)
    pt_per_px_y: float | None = None

    def to_pixels(self, values: list[float] | tuple[float, ...], coords: str) -> list[float]:
        """Map x,y,x,y,... from the family's coordinate space to original pixels."""
        if coords == REL1000:
            sx, sy = self.width / 1000.0, self.height / 1000.0
        elif coords == ABSOLUTE:
            sx, sy = self.width / self.model_width, self.height / self.model_height
        else:  # pragma: no cover - families are closed
            raise ValueError(f"unknown coordinate space {coords!r}")
        return [v * (sx if i % 2 == 0 else sy) for i, v in enumerate(values)]

    def from_pixels(self, values: list[float] | tuple[float, ...], coords: str) -> list[float]:
        """Inverse of :meth:`to_pixels` (used to write answers in a family's space)."""
        if coords == REL1000:
            sx, sy = 1000.0 / self.width, 1000.0 / self.height
        else:
            sx, sy = self.model_width / self.width, self.model_height / self.height
        return [v * (sx if i % 2 == 0 else sy) for i, v in enumerate(values)]

    def to_points(self, values: list[float] | tuple[float, ...] | None) -> list[float] | None:
        """Original pixels -> PDF points (top-left origin of the displayed page), or None."""
        if values is None or self.pt_per_px_x is None or self.pt_per_px_y is None:
            return None
        return [round(v * (self.pt_per_px_x if i % 2 == 0 else self.pt_per_px_y), 2) for i, v in enumerate(values)]


def clean_box(box: list[float], width: int, height: int, min_side: float = 1.0) -> tuple[list[float] | None, list[str]]:
    """Validate a pixel box: order corners, clip to the image, drop degenerate ones.

    Returns the repaired box (or None when nothing sensible is left) and one warning per repair.
    Never invents coordinates.
    """
    warnings: list[str] = []
    if len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
        return None, [f"dropped malformed box {box!r}"]
    x1, y1, x2, y2 = (float(v) for v in box)
    if x1 > x2 or y1 > y2:
        warnings.append(f"swapped corners of box {fmt_box(box)}")
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        warnings.append(f"clipped box {fmt_box(box)} to the {width}x{height} image")
    if cx2 - cx1 < min_side or cy2 - cy1 < min_side:
        warnings.append(f"dropped degenerate box {fmt_box(box)}")
        return None, warnings
    return [round(cx1, 2), round(cy1, 2), round(cx2, 2), round(cy2, 2)], warnings


def clean_point(point: list[float], width: int, height: int) -> tuple[list[float] | None, list[str]]:
    if len(point) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in point):
        return None, [f"dropped malformed point {point!r}"]
    x, y = float(point[0]), float(point[1])
    if not (0 <= x <= width and 0 <= y <= height):
        return None, [f"dropped point {fmt_box(point)} outside the {width}x{height} image"]
    return [round(x, 2), round(y, 2)], []


def fmt_box(values) -> str:
    return "[" + ", ".join(f"{v:g}" if isinstance(v, (int, float)) else repr(v) for v in values) + "]"
