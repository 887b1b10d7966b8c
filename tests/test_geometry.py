"""Geometry is the one source of truth for what the model saw and where its boxes land."""

import random

import pytest

from vlparse.core.families import FAMILIES, QWEN2_5_VL, QWEN3_VL, QWEN_VL, get_family
from vlparse.core.geometry import Budget, Frame, clean_box, clean_point, model_size, smart_resize


def test_smart_resize_matches_transformers_bit_for_bit():
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

    rng = random.Random(0)
    for _ in range(2000):
        h, w = rng.randint(20, 6000), rng.randint(20, 6000)
        if max(h, w) / min(h, w) > 150:
            continue
        factor = rng.choice([28, 32])
        lo = rng.choice([56 * 56, 65536, 3136])
        hi = rng.choice([1003520, 2_195_200, 12845056, 16777216])
        assert smart_resize(h, w, factor, lo, hi) == hf_smart_resize(h, w, factor, lo, hi), (h, w, factor, lo, hi)


def test_model_size_sides_on_factor_and_within_budget():
    for fam in (QWEN2_5_VL, QWEN3_VL):
        budget = Budget(fam.default_min_pixels(), fam.default_max_pixels("doc"))
        w, h = model_size(fam, 2480, 3508, budget)  # A4 at 300 dpi
        assert w % fam.factor == 0 and h % fam.factor == 0
        assert w * h <= budget.max_pixels
        assert abs(w / h - 2480 / 3508) < 0.03


def test_qwen_vl_is_a_fixed_square():
    assert model_size(QWEN_VL, 1000, 300, Budget(1, 10**7)) == (448, 448)


def test_aspect_ratio_guard():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 5000, 28, 3136, 10**6)


def test_budget_validation():
    with pytest.raises(ValueError, match="larger than"):
        Budget(10, 5)


def test_frame_maps_each_coordinate_space():
    f = Frame(width=1000, height=500, model_width=504, model_height=252, pt_per_px_x=0.5, pt_per_px_y=0.5)
    # Qwen2.5-VL: absolute pixels of the resized image
    assert f.to_pixels([252, 126, 504, 252], "absolute") == pytest.approx([500, 250, 1000, 500])
    # Qwen2-VL / Qwen3-VL: 0..1000 relative
    assert f.to_pixels([500, 500, 1000, 1000], "rel1000") == pytest.approx([500, 250, 1000, 500])
    assert f.from_pixels(f.to_pixels([10, 20, 30, 40], "absolute"), "absolute") == pytest.approx([10, 20, 30, 40])
    assert f.to_points([100, 50, 200, 100]) == [50, 25, 100, 50]
    assert Frame(10, 10, 28, 28).to_points([1, 2, 3, 4]) is None


def test_clean_box_repairs_and_reports():
    box, w = clean_box([50, 60, 10, 20], 100, 100)
    assert box == [10, 20, 50, 60] and any("swapped" in x for x in w)
    box, w = clean_box([-5, 10, 120, 90], 100, 100)
    assert box == [0, 10, 100, 90] and any("clipped" in x for x in w)
    box, w = clean_box([10, 10, 10.2, 50], 100, 100)
    assert box is None and any("degenerate" in x for x in w)
    box, w = clean_box([1, 2, 3], 100, 100)
    assert box is None and "malformed" in w[0]
    box, w = clean_box([float("nan"), 1, 2, 3], 100, 100)
    assert box is None
    assert clean_box([1, 2, 30, 40], 100, 100) == ([1, 2, 30, 40], [])


def test_clean_point():
    assert clean_point([5, 6], 10, 10) == ([5, 6], [])
    p, w = clean_point([11, 6], 10, 10)
    assert p is None and "outside" in w[0]


def test_family_lookup_and_aliases():
    assert get_family("Qwen2_5_VL") is QWEN2_5_VL
    assert get_family("qwen3vl").factor == 32
    assert {f.factor for f in FAMILIES.values()} == {28, 32}
    from vlparse.core.errors import ModelError

    with pytest.raises(ModelError, match="unknown model family"):
        get_family("llava")


def test_model_size_is_a_fixed_point_of_the_processors_resize():
    """The processor resizes the image it gets once more: what vlparse sends must come through unchanged."""
    rng = random.Random(3)
    for fam in (QWEN2_5_VL, QWEN3_VL):
        for task in ("doc", "ground"):
            budget = Budget(fam.default_min_pixels(), fam.default_max_pixels(task))
            for _ in range(500):
                w, h = rng.randint(30, 8000), rng.randint(30, 8000)
                if max(w, h) / min(w, h) > 150:
                    continue
                mw, mh = model_size(fam, w, h, budget)
                assert smart_resize(mh, mw, fam.factor, budget.min_pixels, budget.max_pixels) == (mh, mw)


def test_a_budget_with_no_size_on_the_grid_is_a_clear_error():
    tight = Budget(64 * 32 * 32, 64 * 32 * 32)  # exactly 64 visual tokens: almost no page shape fits
    with pytest.raises(ValueError, match="widen --min-pixels/--max-pixels"):
        model_size(QWEN3_VL, 1000, 1400, tight)
