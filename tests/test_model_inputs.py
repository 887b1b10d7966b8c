"""Model inputs built from cached prompt ids equal the processor's, tensor for tensor, for every family."""

import pytest
from PIL import Image

from vlparse.backends.base import Request

from vlparse.core.prompt import Prompt
from vlparse.backends.local import LoadOptions, LocalBackend
from vlparse.backends.model_inputs import _same
from vlparse.core.geometry import Budget, model_size

pytestmark = pytest.mark.slow


def _requests(fam, sizes, prompts):
    budget = Budget(fam.default_min_pixels(), fam.default_max_pixels("ground"))
    reqs = []
    for i, ((w, h), prompt) in enumerate(zip(sizes, prompts)):
        mw, mh = model_size(fam, w, h, budget)
        img = Image.new("RGB", (mw, mh), (250, 240 - 30 * i, 230))
        reqs.append(Request(f"p{i}#1", img, prompt, 8, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels))
    return reqs


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_cached_prompt_ids_give_the_processors_batch(tiny_models, family):
    b = LocalBackend(LoadOptions(model=str(tiny_models[family]), fast=False))
    prompts = [Prompt("You read documents.", "QwenVL HTML"), Prompt(None, "Locate the red car, report bbox in JSON."),
               Prompt("You read documents.", "QwenVL HTML")]
    reqs = _requests(b.family, [(500, 300), (300, 420), (900, 900)], prompts)
    fast = b.inputs.by_ids(reqs)
    assert _same(fast, b.inputs.by_processor(reqs))
    b.build_inputs(reqs)
    assert b.inputs.verified is True


def test_an_image_off_the_grid_is_resized_like_the_processor_does(tiny_models):
    b = LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), fast=False))
    req = _requests(b.family, [(300, 200)], [Prompt(None, "QwenVL HTML")])[0]
    req.image = req.image.resize((301, 203))
    assert _same(b.inputs.by_ids([req]), b.inputs.by_processor([req]))


def test_a_builder_that_disagrees_falls_back_to_the_processor(tiny_models, monkeypatch):
    b = LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), fast=False))
    reqs = _requests(b.family, [(300, 200)], [Prompt(None, "QwenVL HTML")])
    monkeypatch.setattr(b.inputs, "image_token_id", b.inputs.image_token_id + 1)  # a wrong id: not the same batch
    inputs = b.build_inputs(reqs)
    assert b.inputs.verified is False
    assert _same(inputs, b.inputs.by_processor(reqs))
