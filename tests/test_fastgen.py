"""The fast greedy path (vlparse.backends.fastgen) against transformers' own generate, on tiny checkpoints."""

import random

import pytest
import torch
from PIL import Image

from vlparse.backends.base import Request

from vlparse.core.prompt import Prompt
from vlparse.backends.fastgen import fast_generate, unsupported_reason
from vlparse.backends.local import LoadOptions, LocalBackend
from vlparse.core.geometry import Budget, model_size

pytestmark = pytest.mark.slow

NEW = 24
#: page shapes of different sizes and aspect ratios, so the batch mixes image-token counts (left padding)
SIZES = [(500, 300), (300, 420), (640, 640), (200, 900), (1000, 1000)]


@pytest.fixture(scope="module")
def backends(tiny_models):
    out = {}
    for fam, path in tiny_models.items():
        b = LocalBackend(LoadOptions(model=str(path), fast=False))
        # random initial weights attend almost uniformly, so positions would hardly matter: sharpen the
        # attention (queries and keys x8) so that a wrong position or mask changes the tokens
        with torch.no_grad():
            for name, p in b.model.model.language_model.named_parameters():
                if ".q_proj." in name or ".k_proj." in name:
                    p.mul_(8)
        out[fam] = b
    return out


def _inputs(backend, sizes=SIZES):
    fam = backend.family
    budget = Budget(fam.default_min_pixels(), 256 * fam.factor**2)
    reqs = []
    for i, (w, h) in enumerate(sizes):
        mw, mh = model_size(fam, w, h, budget)
        image = Image.frombytes("RGB", (mw, mh), random.Random(i).randbytes(mw * mh * 3))  # reproducible noise
        prompt = Prompt("You read documents." if i % 2 else None, "QwenVL HTML" + " now" * i)  # prompt lengths differ
        reqs.append(Request(f"p{i}", image, prompt, NEW, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels))
    return reqs, backend.build_inputs(reqs)


def _generate(backend, inputs, eos_ids):
    with torch.inference_mode():
        out = backend.model.generate(**inputs, max_new_tokens=NEW, do_sample=False, eos_token_id=eos_ids,
                                     pad_token_id=backend.pad_id, temperature=None, top_p=None, top_k=None)
    return out[:, inputs["input_ids"].shape[1]:]


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize("mode", ["eager", "static"])
def test_greedy_tokens_equal_generate_on_a_mixed_left_padded_batch(backends, family, mode):
    b = backends[family]
    assert unsupported_reason(b.model) is None
    _, inputs = _inputs(b)
    assert (inputs["attention_mask"] == 0).any()  # the batch really is left-padded
    ref = _generate(b, inputs, b.eos_ids)
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=b.eos_ids, pad_id=b.pad_id, mode=mode)
    assert got.shape == ref.shape
    assert torch.equal(got, ref)


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_rows_stop_at_their_eos_and_the_loop_exits_when_all_are_done(backends, family):
    b = backends[family]
    _, inputs = _inputs(b)
    free = _generate(b, inputs, [])
    # end tokens taken from the free-running answers, so rows finish at different steps
    eos = sorted({int(free[i, 2 * i + 1]) for i in range(free.shape[0])})
    ref = _generate(b, inputs, eos)
    stats = {}
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=eos, pad_id=b.pad_id, mode="eager", stats=stats)
    assert torch.equal(got, ref)
    rows = got.shape[0]
    assert got.shape[1] < NEW and stats["steps"] == got.shape[1] - 1  # stopped early, as generate did
    assert stats["row_steps"] < rows * stats["steps"]  # finished rows were dropped from the running batch
    for row in got.tolist():  # right-padded after each row's own end token
        end = next(i for i, t in enumerate(row) if t in eos)
        assert all(t == b.pad_id for t in row[end + 1:])


EIGHT = SIZES + [(360, 240), (240, 700), (800, 500)]


@pytest.mark.parametrize("family", ["qwen2.5-vl"])  # qwen3-vl's tiny checkpoint did not stagger its rows in every build
def test_compacting_the_batch_twice_still_equals_generate(backends, family):
    """8 rows finishing at staggered steps: the batch is compacted 8 -> 4 -> 2 rows, and every per-row
    field (tokens, positions, masks, rotary table, cache) must follow the rows it belongs to."""
    b = backends[family]
    _, inputs = _inputs(b, EIGHT)
    free = _generate(b, inputs, [])
    eos = sorted({int(free[i, 2 * i + 2]) for i in range(free.shape[0])})  # row i ends near step 2i+2
    ref = _generate(b, inputs, eos)
    stats = {}
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=eos, pad_id=b.pad_id, mode="eager", stats=stats)
    assert stats["compactions"] >= 2, stats
    assert torch.equal(got, ref)
    stats = {}
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=eos, pad_id=b.pad_id, mode="static", stats=stats)
    assert stats["compactions"] >= 2 and torch.equal(got, ref)


def test_the_run_state_is_one_object_every_field_declared():
    from vlparse.backends import fastgen

    names = [f.name for f in fastgen.fields(fastgen._RunState)]
    assert {"out", "done", "tok", "pos", "valid", "rows", "slot", "col", "rope"} <= set(names)
    st = fastgen._RunState(out=torch.zeros(3, 5), done=torch.tensor([True, False, False]), tok=torch.arange(3)[:, None],
                           pos=torch.arange(12).view(4, 3, 1), valid=torch.ones(3, 7, dtype=torch.bool),
                           rows=torch.arange(3), slot=torch.tensor([4]), col=torch.tensor([1]),
                           rope=(torch.arange(6.).view(3, 2), torch.arange(6.).view(3, 2)))
    saved = st.snapshot()
    st.tok.add_(10)
    st.slot.add_(1)
    st.restore(saved)
    assert st.tok.tolist() == [[0], [1], [2]] and st.slot.tolist() == [4]
    st.select_rows(torch.tensor([2, 0]))
    assert st.rows.tolist() == [2, 0] and st.pos[:, :, 0].tolist() == [[2, 0], [5, 3], [8, 6], [11, 9]]
    assert st.rope[0].tolist() == [[4, 5], [0, 1]] and st.slot.tolist() == [4]  # shared fields untouched


def test_ignore_eos_forces_the_length(backends):
    b = backends["qwen2.5-vl"]
    _, inputs = _inputs(b, SIZES[:3])
    free = _generate(b, inputs, [])
    eos = sorted({int(t) for t in free[:, 1]})  # would stop every row after two tokens
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=eos, pad_id=b.pad_id, ignore_eos=True)
    assert got.shape == (3, NEW)
    assert torch.equal(got, _generate(b, inputs, []))  # generate with no end token at all


def test_a_model_the_fast_path_cannot_run_goes_through_generate(backends, monkeypatch):
    b = backends["qwen2.5-vl"]
    _, inputs = _inputs(b, SIZES[:2])
    lm_cfg = b.model.model.language_model.config
    monkeypatch.setattr(lm_cfg, "layer_types", ["sliding_attention"] * len(lm_cfg.layer_types))
    assert "sliding" in unsupported_reason(b.model)
    monkeypatch.undo()
    monkeypatch.setattr("vlparse.backends.fastgen.unsupported_reason", lambda model: "test")
    stats = {}
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=b.eos_ids, pad_id=b.pad_id, stats=stats)
    assert stats["mode"] == "generate"
    assert torch.equal(got, _generate(b, inputs, b.eos_ids))


def test_graph_mode_needs_cuda_and_modes_are_checked(backends):
    b = backends["qwen2.5-vl"]
    _, inputs = _inputs(b, SIZES[:1])
    with pytest.raises(ValueError, match="mode"):
        fast_generate(b.model, inputs, max_new_tokens=2, eos_ids=b.eos_ids, pad_id=b.pad_id, mode="fastest")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            fast_generate(b.model, inputs, max_new_tokens=2, eos_ids=b.eos_ids, pad_id=b.pad_id, mode="graph")


def test_local_backend_answers_are_the_same_with_and_without_the_fast_path(tiny_models):
    plain = LocalBackend(LoadOptions(model=str(tiny_models["qwen3-vl"]), fast=False))
    fast = LocalBackend(LoadOptions(model=str(tiny_models["qwen3-vl"]), fast=True))
    # released checkpoints ship a repetition penalty in generation_config.json: the plain path must not pick it up
    plain.model.generation_config.repetition_penalty = 3.0
    reqs, _ = _inputs(plain)
    a, b = plain.generate(reqs), fast.generate(reqs)
    assert [(x.key, x.text, x.finish_reason, x.new_tokens) for x in a] == \
        [(x.key, x.text, x.finish_reason, x.new_tokens) for x in b]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_cuda_graph_decoding_equals_generate_on_the_gpu(tiny_models, family):
    b = LocalBackend(LoadOptions(model=str(tiny_models[family]), device="cuda", dtype="fp32", fast=False))
    _, inputs = _inputs(b)
    inputs = inputs.to("cuda")
    ref = _generate(b, inputs, b.eos_ids)
    stats = {}
    got = fast_generate(b.model, inputs, max_new_tokens=NEW, eos_ids=b.eos_ids, pad_id=b.pad_id, stats=stats)
    assert stats["mode"] == "graph"  # captured, not fallen back to eager
    assert torch.equal(got, ref)
