"""``vlparse probe``: is a served model fit for vlparse, before a big run starts?

One small page goes to the server: a white image on the family's grid with one black rectangle at a known
place, and the family's grounding prompt asking for it. The report says which model and family answer, the
server's context length, whether the server takes per-request processor kwargs, whether it kept the image at
its size (``usage.prompt_tokens`` = text tokens + the grid; see :mod:`vlparse.backends.openai`), and whether
the box came back in the coordinate space vlparse expects of the family: ``ok`` (it lands on the rectangle),
``wrong`` (it lands there only when read in the other space: wrong --family, or a fine-tune that changed it),
``unknown`` (no box, or a box elsewhere: a model that cannot localise, such as random test weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from vlparse.core.errors import BackendError
from vlparse.core.families import ABSOLUTE, REL1000, Family

#: the rectangle, as fractions of the image (x1, y1, x2, y2)
TARGET = (0.25, 0.30, 0.60, 0.75)
QUERY = "the black rectangle"
#: grid cells of the probe image (w, h): 192 image tokens, inside every family's processor range
GRID = (16, 12)


@dataclass
class ProbeReport:
    server: str
    model: str
    family: str
    max_model_len: int | None
    kwargs_accepted: bool | None
    image_tokens_ok: bool | None
    coord_space: str  # ok | wrong | unknown
    note: str = ""

    @property
    def conformant(self) -> bool:
        return self.image_tokens_ok is not False and self.coord_space != "wrong"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_image(family: Family):
    from PIL import Image, ImageDraw

    w, h = GRID[0] * family.factor, GRID[1] * family.factor
    if family.fixed_size:
        w = h = family.fixed_size
    image = Image.new("RGB", (w, h), "white")
    x1, y1, x2, y2 = TARGET
    ImageDraw.Draw(image).rectangle([x1 * w, y1 * h, x2 * w - 1, y2 * h - 1], fill="black")
    return image


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def coord_verdict(text: str, family: Family, size: tuple[int, int]) -> str:
    """ok | wrong | unknown for the answer ``text`` to the probe page of ``size``."""
    from vlparse.core.geometry import Frame
    from vlparse.parse.grounding import parse_grounding

    w, h = size
    frame = Frame(w, h, w, h)
    truth = [TARGET[0] * w, TARGET[1] * h, TARGET[2] * w, TARGET[3] * h]

    def hits(fam: Family) -> bool:
        try:
            found = parse_grounding(text, fam, frame, want="bbox", queries=[QUERY]).detections
        except Exception:  # noqa: BLE001 - an unparseable answer says nothing about the coordinate space
            return False
        return any(d.bbox and iou(d.bbox, truth) >= 0.5 for d in found)

    if hits(family):
        return "ok"
    # the same answer read in the other coordinate space (the family's syntax kept)
    if hits(replace(family, coords=ABSOLUTE if family.coords == REL1000 else REL1000)):
        return "wrong"
    return "unknown"


def probe_server(base_url: str, *, family: str | Family | None = None, api_model: str | None = None,
                 api_key: str | None = None, timeout: float = 120.0, max_new_tokens: int = 128) -> ProbeReport:
    """Send the probe page to one server; connection and model errors raise (exit 5).

    ``family``: None takes it from the served model's name, as a run does.
    """
    from vlparse.backends.base import Request
    from vlparse.backends.factory import BackendOptions, resolve_family
    from vlparse.backends.openai import OpenAIBackend
    from vlparse.run.prompts import fill_queries, load_prompt

    if not isinstance(family, Family):
        opts = BackendOptions(backend="openai", family=family, base_urls=[base_url], api_key=api_key,
                              api_model=api_model)
        family = resolve_family(opts)
        api_model = opts.api_model

    image = probe_image(family)
    lo = min(family.default_min_pixels(), image.size[0] * image.size[1])
    hi = max(family.default_max_pixels("ground"), image.size[0] * image.size[1])
    prompt = fill_queries(load_prompt(family, "ground"), [QUERY])
    with OpenAIBackend(family, [base_url], api_model, api_key, concurrency=1, timeout=timeout, retries=1) as b:
        report = ProbeReport(b.servers[0].url, b.model_name, family.name, b.context_len, None, None, "unknown")
        try:
            [answer] = b.generate([Request("probe", image, prompt, max_new_tokens, 0.0, 1.0, lo, hi)])
        except BackendError as e:
            if "resized" not in e.message:
                raise
            report.image_tokens_ok = False
            report.note = e.message
        else:
            if answer.finish_reason == "error":
                report.note = answer.error or "no answer"
            else:
                report.coord_space = coord_verdict(answer.text, family, image.size)
                if b.usage_reported and not family.fixed_size:
                    report.image_tokens_ok = True
                elif b.usage_reported is False:
                    report.note = "the server reports no token usage: image sizes unverified"
        report.kwargs_accepted = b.kwargs_accepted
    return report
