"""The result model: what every command produces and every exporter consumes.

Plain dataclasses with ``to_dict`` / ``from_dict`` so JSON, JSONL and the manifest agree.
Coordinates are always in the *original* image's pixels (``bbox_px``) and, for PDFs,
in points of the displayed page with a top-left origin (``bbox_pt``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from collections.abc import Iterator
from typing import Any

from vlparse.core.errors import SchemaError
from vlparse.core.geometry import Frame
from vlparse.core.options import Choice

#: the version of every JSON vlparse writes (document JSON, page records, JSONL lines, manifests, API dicts):
#: one number shared by all of them, raised when a field changes meaning or goes away
SCHEMA_VERSION = 1



class PageStatus(Choice):
    """How a page went (``PageResult.status`` holds the value)."""

    OK = "ok"
    REPAIRED = "repaired"  # the answer needed repairs (see warnings) but is complete
    TRUNCATED = "truncated"  # the answer stopped at the token limit
    REPETITION = "repetition"  # a repetition loop was cut
    SUSPECT = "suspect"  # complete, but disagrees with the PDF's own text layer (see warnings and ``verify``)
    FAILED = "failed"  # no usable answer (error says why)


# page status values, as plain strings
OK = PageStatus.OK.value
REPAIRED = PageStatus.REPAIRED.value
TRUNCATED = PageStatus.TRUNCATED.value
REPETITION = PageStatus.REPETITION.value
SUSPECT = PageStatus.SUSPECT.value
FAILED = PageStatus.FAILED.value


@dataclass
class PageInfo:
    """One page (or image) as handed to the model."""

    source: str  # the input path as given
    page: int  # 1-based page number (1 for a single image)
    frame: Frame
    kind: str = "image"  # "pdf" or "image"
    rotation: int = 0  # PDF page rotation in degrees
    width_pt: float | None = None
    height_pt: float | None = None
    zoom_x: float | None = None  # PDFs: pixels per point used to render
    zoom_y: float | None = None

    @property
    def width_px(self) -> int:
        return self.frame.width

    @property
    def height_px(self) -> int:
        return self.frame.height

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "page": self.page,
            "kind": self.kind,
            "width_px": self.frame.width,
            "height_px": self.frame.height,
            "model_width": self.frame.model_width,
            "model_height": self.frame.model_height,
            "width_pt": self.width_pt,
            "height_pt": self.height_pt,
            "rotation": self.rotation,
            "zoom_x": self.zoom_x,
            "zoom_y": self.zoom_y,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PageInfo:
        zx, zy = d.get("zoom_x"), d.get("zoom_y")
        frame = Frame(
            d["width_px"], d["height_px"], d["model_width"], d["model_height"],
            (1.0 / zx) if zx else None, (1.0 / zy) if zy else None,
        )
        return cls(d["source"], d["page"], frame, d.get("kind", "image"), d.get("rotation", 0),
                   d.get("width_pt"), d.get("height_pt"), zx, zy)


@dataclass
class Detection:
    label: str
    bbox: list[float] | None = None  # [x1, y1, x2, y2] original pixels
    point: list[float] | None = None  # [x, y] original pixels
    bbox_pt: list[float] | None = None
    point_pt: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other keys the model wrote (e.g. text_content)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Detection:
        return cls(d.get("label", ""), d.get("bbox"), d.get("point"), d.get("bbox_pt"), d.get("point_pt"),
                   dict(d.get("extra") or {}))

    def to_dict(self) -> dict[str, Any]:
        d = {"label": self.label, "bbox": self.bbox, "point": self.point}
        if self.bbox_pt is not None or self.point_pt is not None:
            d["bbox_pt"], d["point_pt"] = self.bbox_pt, self.point_pt
        if self.extra:
            d["extra"] = self.extra
        return d


@dataclass
class Block:
    type: str  # one of vlparse.parse.schema.BLOCK_TYPES
    text: str = ""
    html: str = ""  # sanitised HTML fragment of the block
    bbox_px: list[float] | None = None
    bbox_pt: list[float] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)  # level, latex, smiles, abc, cells, language, ...
    verify: dict[str, Any] | None = None  # agreement with the PDF's text layer (vlparse.parse.verify)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.verify is None:
            del d["verify"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Block:
        return cls(d["type"], d.get("text", ""), d.get("html", ""), d.get("bbox_px"), d.get("bbox_pt"),
                   dict(d.get("attrs") or {}), d.get("verify"))


@dataclass
class PageResult:
    info: PageInfo
    status: str = OK
    warnings: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    raw: str = ""
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # one record per generation try
    verify: dict[str, Any] | None = None  # page-level agreement with the PDF's text layer

    def to_dict(self) -> dict[str, Any]:
        d = {**self.info.to_dict(), "status": self.status, "warnings": list(self.warnings)}
        if self.error:
            d["error"] = self.error
        if self.verify is not None:
            d["verify"] = self.verify
        d["blocks"] = [b.to_dict() for b in self.blocks]
        if self.detections:
            d["detections"] = [x.to_dict() for x in self.detections]
        if self.attempts:
            d["attempts"] = self.attempts
        d["raw"] = self.raw
        return d


    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PageResult:
        return cls(PageInfo.from_dict(d), d.get("status", OK), list(d.get("warnings", [])),
                   [Block.from_dict(b) for b in d.get("blocks", [])],
                   [Detection.from_dict(x) for x in d.get("detections", [])], d.get("raw", ""), d.get("error"),
                   list(d.get("attempts", [])), d.get("verify"))


def _check_version(d: Any, what: str) -> None:
    if not isinstance(d, dict):
        raise SchemaError(f"not a vlparse {what}: a JSON object is needed (got {type(d).__name__})")
    v = d.get("schema_version", SCHEMA_VERSION)
    if not isinstance(v, int) or isinstance(v, bool):
        raise SchemaError(f"not a vlparse {what}: schema_version {v!r} is not a number")
    if v > SCHEMA_VERSION:
        raise SchemaError(f"schema version {v} is newer than this vlparse reads ({SCHEMA_VERSION}); upgrade vlparse")


def _malformed(what: str, e: Exception) -> SchemaError:
    why = f"missing {e}" if isinstance(e, KeyError) else str(e)
    return SchemaError(f"not a vlparse {what}: {why}")


@dataclass
class Document:
    """One parsed input: its pages in order, each with its blocks (``vlparse doc``'s JSON).

    ``error`` says why the input could not be opened at all (then there are no pages).
    """

    source: str
    family: str
    model: str
    pages: list[PageResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the input was read and no page failed."""
        return self.error is None and bool(self.pages) and all(p.status != FAILED for p in self.pages)

    def iter_blocks(self) -> Iterator[tuple[PageResult, Block]]:
        """Every block with its page, in reading order: ``for page, block in doc.iter_blocks()``."""
        for page in self.pages:
            for block in page.blocks:
                yield page, block

    def __iter__(self) -> Iterator[tuple[PageResult, Block]]:
        return self.iter_blocks()

    def to_dict(self) -> dict[str, Any]:
        d = {"schema_version": SCHEMA_VERSION, "source": self.source, "family": self.family, "model": self.model,
             "pages": [p.to_dict() for p in self.pages]}
        if self.error:
            d["error"] = self.error
        return d


    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        _check_version(d, "document")
        try:
            pages = [PageResult.from_dict({"source": d["source"], **p}) for p in d.get("pages", [])]
            return cls(d["source"], d.get("family", ""), d.get("model", ""), pages, d.get("error"))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise _malformed("document", e) from None


def ground_record(result: PageResult, family: str) -> dict[str, Any]:
    """The JSON object ``vlparse ground`` writes per image (coordinates in original-image pixels)."""
    info = result.info
    d: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "image": info.source}
    if info.kind == "pdf" or info.page > 1:
        d["page"] = info.page
    d.update({"width": info.width_px, "height": info.height_px, "family": family,
              "model_width": info.frame.model_width, "model_height": info.frame.model_height})
    if info.kind == "pdf":
        d.update({"width_pt": info.width_pt, "height_pt": info.height_pt})
    d.update({"status": result.status, "detections": [x.to_dict() for x in result.detections],
              "warnings": list(result.warnings)})
    if result.error:
        d["error"] = result.error
    d["raw"] = result.raw
    return d


@dataclass
class GroundResult:
    """Detections for text queries over one or more images (or PDF pages), one :class:`PageResult` each.

    ``errors``: inputs that could not be opened at all, as ``{source: reason}``.
    """

    family: str
    model: str
    queries: list[str] = field(default_factory=list)
    points: bool = False
    images: list[PageResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every input was read and no image failed."""
        return not self.errors and bool(self.images) and all(p.status != FAILED for p in self.images)

    @property
    def detections(self) -> list[Detection]:
        """All detections of all images, in order."""
        return [d for p in self.images for d in p.detections]

    def iter_detections(self) -> Iterator[tuple[PageResult, Detection]]:
        """Every detection with its image: ``for image, det in result.iter_detections()``."""
        for page in self.images:
            for det in page.detections:
                yield page, det

    def __iter__(self) -> Iterator[tuple[PageResult, Detection]]:
        return self.iter_detections()

    def records(self) -> list[dict[str, Any]]:
        """The JSON lines ``vlparse ground`` prints, one per image."""
        return [ground_record(p, self.family) for p in self.images]

    def to_dict(self) -> dict[str, Any]:
        d = {"schema_version": SCHEMA_VERSION, "family": self.family, "model": self.model,
             "queries": list(self.queries), "points": self.points, "images": [p.to_dict() for p in self.images]}
        if self.errors:
            d["errors"] = dict(self.errors)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroundResult:
        _check_version(d, "ground result")
        try:
            images = [PageResult.from_dict(p) for p in d.get("images", [])]
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise _malformed("ground result", e) from None
        return cls(d.get("family", ""), d.get("model", ""), list(d.get("queries", [])), bool(d.get("points")),
                   images, dict(d.get("errors") or {}))


#: the public name of a page's result
Page = PageResult
