"""One record per Qwen VL generation: image geometry, coordinate language, defaults.

Everything that differs between generations lives here, so the rest of vlparse asks
``family.coords`` or ``family.factor`` instead of testing names.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlparse.core.errors import ModelError

#: coordinate spaces a family answers in
REL1000 = "rel1000"  # integers relative to the image, 0..1000
ABSOLUTE = "absolute"  # pixels of the image as resized by the processor


@dataclass(frozen=True)
class Family:
    name: str  # canonical CLI name, e.g. "qwen2.5-vl"
    title: str
    patch_size: int
    merge_size: int
    coords: str  # REL1000 or ABSOLUTE
    grounding: str  # "ref_box" (Qwen-VL), "box_tokens" (Qwen2-VL), "json" (2.5 / 3)
    model_types: tuple[str, ...]  # config.model_type values that identify the family
    #: the processor's own defaults (preprocessor_config.json of the released checkpoints)
    processor_min_pixels: int
    processor_max_pixels: int
    #: vlparse's default visual-token budgets per task (pixels = tokens * factor**2)
    doc_max_tokens: int = 2800
    ground_max_tokens: int = 1280
    min_tokens: int = 4
    fixed_size: int | None = None  # Qwen-VL resizes every image to a fixed square
    html: bool = True  # speaks "QwenVL HTML" document parsing
    local: bool = True  # loadable with AutoModelForImageTextToText
    example_model: str = ""

    @property
    def factor(self) -> int:
        """Both sides of the image the model sees are multiples of this."""
        return self.patch_size * self.merge_size

    def default_max_pixels(self, task: str) -> int:
        tokens = self.doc_max_tokens if task == "doc" else self.ground_max_tokens
        return tokens * self.factor**2

    def default_min_pixels(self) -> int:
        return self.min_tokens * self.factor**2


QWEN_VL = Family(
    name="qwen-vl",
    title="Qwen-VL",
    patch_size=14,
    merge_size=2,
    coords=REL1000,
    grounding="ref_box",
    model_types=("qwen",),
    processor_min_pixels=448 * 448,
    processor_max_pixels=448 * 448,
    fixed_size=448,
    html=False,
    local=False,
    example_model="Qwen/Qwen-VL-Chat",
)
QWEN2_VL = Family(
    name="qwen2-vl",
    title="Qwen2-VL",
    patch_size=14,
    merge_size=2,
    coords=REL1000,
    grounding="box_tokens",
    model_types=("qwen2_vl",),
    processor_min_pixels=56 * 56,
    processor_max_pixels=28 * 28 * 16384,
    html=False,
    example_model="Qwen/Qwen2-VL-7B-Instruct",
)
QWEN2_5_VL = Family(
    name="qwen2.5-vl",
    title="Qwen2.5-VL",
    patch_size=14,
    merge_size=2,
    coords=ABSOLUTE,
    grounding="json",
    model_types=("qwen2_5_vl",),
    processor_min_pixels=56 * 56,
    processor_max_pixels=28 * 28 * 16384,
    example_model="Qwen/Qwen2.5-VL-7B-Instruct",
)
QWEN3_VL = Family(
    name="qwen3-vl",
    title="Qwen3-VL",
    patch_size=16,
    merge_size=2,
    coords=REL1000,
    grounding="json",
    model_types=("qwen3_vl", "qwen3_vl_moe"),
    processor_min_pixels=65536,
    processor_max_pixels=16777216,
    min_tokens=64,
    example_model="Qwen/Qwen3-VL-8B-Instruct",
)

FAMILIES: dict[str, Family] = {f.name: f for f in (QWEN_VL, QWEN2_VL, QWEN2_5_VL, QWEN3_VL)}
_ALIASES = {
    "qwenvl": "qwen-vl", "qwen": "qwen-vl", "qwen1-vl": "qwen-vl",
    "qwen2vl": "qwen2-vl", "qwen2_vl": "qwen2-vl",
    "qwen2.5vl": "qwen2.5-vl", "qwen2_5_vl": "qwen2.5-vl", "qwen25-vl": "qwen2.5-vl", "qwen2-5-vl": "qwen2.5-vl",
    "qwen3vl": "qwen3-vl", "qwen3_vl": "qwen3-vl", "qwen3_vl_moe": "qwen3-vl",
}
DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"


def get_family(name: str) -> Family:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FAMILIES:
        raise ModelError(f"unknown model family '{name}' (choose from: {', '.join(FAMILIES)})")
    return FAMILIES[key]


def family_from_model_type(model_type: str) -> Family:
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam
    raise ModelError(
        f"model type '{model_type}' is not a Qwen VL generation vlparse knows "
        f"(known: {', '.join(t for f in FAMILIES.values() for t in f.model_types)}); pass --family to force one"
    )


def guess_family_from_name(model: str) -> Family | None:
    """Best guess from a model id or path, for when no config can be read (e.g. a server)."""
    low = model.lower().replace("_", "-")
    for needle, fam in (("qwen3-vl", QWEN3_VL), ("qwen2.5-vl", QWEN2_5_VL), ("qwen2-5-vl", QWEN2_5_VL),
                        ("qwen2-vl", QWEN2_VL), ("qwen-vl", QWEN_VL)):
        if needle in low:
            return fam
    return None


def pixel_budget(family: Family, task: str, *, max_pixels: int | None = None, min_pixels: int | None = None):
    """The :class:`~vlparse.core.geometry.Budget` of ``task`` (doc, ground, points): the given bounds, else the
    family's defaults. An impossible budget is a :class:`~vlparse.core.errors.UsageError`."""
    from vlparse.core.errors import UsageError
    from vlparse.core.geometry import Budget

    try:
        return Budget(min_pixels or family.default_min_pixels(), max_pixels or family.default_max_pixels(task))
    except ValueError as e:
        raise UsageError(str(e)) from None
