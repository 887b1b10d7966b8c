"""The local transformers backend on tiny random-weight checkpoints of the real architectures."""

import sys

import pytest
from PIL import Image

from vlparse.backends.base import Request

from vlparse.core.prompt import Prompt
from vlparse.backends.local import LoadOptions, LocalBackend
from vlparse.core.errors import EXIT_MODEL, EXIT_OOM, ModelError, OutOfMemoryError, UsageError
from vlparse.core.geometry import Budget, model_size

pytestmark = pytest.mark.slow


def _requests(backend, sizes, max_new_tokens=5):
    fam = backend.family
    budget = Budget(fam.default_min_pixels(), fam.default_max_pixels("ground"))
    reqs = []
    for i, (w, h) in enumerate(sizes):
        mw, mh = model_size(fam, w, h, budget)
        reqs.append(Request(f"img{i}#1", Image.new("RGB", (mw, mh), (255, 255 - 40 * i, 255)),
                            Prompt("You read documents." if i % 2 else None, "QwenVL HTML"), max_new_tokens,
                            min_pixels=budget.min_pixels, max_pixels=budget.max_pixels))
    return reqs


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_each_family_loads_from_a_directory_and_generates_a_batch(tiny_models, family):
    b = LocalBackend(LoadOptions(model=str(tiny_models[family]), fast=False))
    assert b.family.name == family  # detected from config.model_type
    reqs = _requests(b, [(500, 300), (300, 420), (640, 640)])
    answers = b.generate(reqs)
    assert [a.key for a in answers] == [r.key for r in reqs]
    for a in answers:
        assert a.finish_reason in ("stop", "length") and a.error is None
        assert 0 <= a.new_tokens <= 5
        assert "<|im_end|>" not in a.text


def test_batched_greedy_equals_one_at_a_time(tiny_models):
    b = LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), fast=False))
    reqs = _requests(b, [(500, 300), (300, 420), (200, 200)], max_new_tokens=6)
    batched = [a.text for a in b.generate(reqs)]
    single = [b.generate([r])[0].text for r in reqs]
    assert batched == single


@pytest.mark.parametrize("quant,layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantised_language_model_keeps_the_vision_tower_unquantised(tiny_models, quant, layer):
    b = LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), quant=quant, fast=False))
    kinds = {name: type(m).__name__ for name, m in b.model.named_modules()}
    lm = [n for n, k in kinds.items() if k == layer]
    assert lm and all("visual" not in n for n in lm)  # language model quantised
    assert any("visual" in n and k == "Linear" for n, k in kinds.items())  # vision tower not
    assert kinds.get("lm_head") == "Linear"
    assert len(b.generate(_requests(b, [(300, 200)], 3))) == 1


def test_missing_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist") as e:
        LocalBackend(LoadOptions(model=str(tmp_path / "nope")))
    assert e.value.exit_code == EXIT_MODEL


def test_hub_id_without_network_says_how_to_pass_a_local_path():
    with pytest.raises(ModelError, match="--model PATH"):
        LocalBackend(LoadOptions(model="Qwen/Qwen2.5-VL-7B-Instruct"))


def test_directory_without_a_model_is_a_model_error(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ModelError, match="not a loadable model directory"):
        LocalBackend(LoadOptions(model=str(tmp_path)))


def test_quant_without_bitsandbytes(tiny_models, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import fails as if not installed
    with pytest.raises(ModelError, match="needs bitsandbytes"):
        LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), quant="4bit"))


def test_cuda_requested_without_a_gpu(tiny_models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelError, match="no CUDA GPU"):
        LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), device="cuda"))


def test_flash_attention_needs_cuda(tiny_models):
    with pytest.raises(ModelError, match="flash"):
        LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), attn="flash_attention_2"))


def test_bad_choices_are_usage_errors(tiny_models):
    with pytest.raises(UsageError, match="--dtype"):
        LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), dtype="int3"))
    with pytest.raises(UsageError, match="--quant"):
        LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), quant="2bit"))


def test_family_override_and_unknown_family(tiny_models):
    with pytest.raises(ModelError, match="unknown model family"):
        LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), family="llava"))


def test_out_of_memory_halves_the_batch_then_gives_a_clear_error(tiny_models, monkeypatch):
    import torch

    b = LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), fast=False))
    sizes = []
    real = b._generate_batch

    def flaky(reqs):
        sizes.append(len(reqs))
        if len(reqs) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(reqs)

    monkeypatch.setattr(b, "_generate_batch", flaky)
    answers = b.generate(_requests(b, [(300, 200)] * 4, 2))
    assert len(answers) == 4 and sizes[:3] == [4, 2, 1] and b.batch_size == 1

    def always(reqs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(b, "_generate_batch", always)
    with pytest.raises(OutOfMemoryError, match="--quant 4bit") as e:
        b.generate(_requests(b, [(300, 200)], 2))
    assert e.value.exit_code == EXIT_OOM


def test_processor_resize_mismatch_is_caught(tiny_models):
    b = LocalBackend(LoadOptions(model=str(tiny_models["qwen2.5-vl"]), fast=False))
    req = _requests(b, [(300, 200)])[0]
    req.image = req.image.resize((req.image.size[0] + 28 * 6, req.image.size[1]))  # over the budget: resampled
    req.max_pixels = req.image.size[0] * req.image.size[1] // 2
    with pytest.raises(ModelError, match="resized"):
        b.generate([req])
