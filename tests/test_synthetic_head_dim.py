"""build_checkpoint(head_dim=32): tiny checkpoints vLLM's CPU attention accepts (head size >= 32)."""

from __future__ import annotations

import pytest

from vlparse.core.errors import UsageError
from vlparse.core.families import get_family
from vlparse.tools.synthetic import TINY_HEAD_DIM, tiny_arch


def head_size(text: dict) -> int:
    return text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_head_dim_option_and_unchanged_default(family):
    fam = get_family(family)
    assert head_size(tiny_arch(fam)["text"]) == TINY_HEAD_DIM == 16  # the default the bench figures used
    text = tiny_arch(fam, head_dim=32)["text"]
    assert head_size(text) == 32
    assert sum(text["rope_parameters"]["mrope_section"]) == 32 // 2  # multimodal RoPE covers half the head


def test_bad_head_dim_is_a_usage_error():
    with pytest.raises(UsageError):
        tiny_arch(get_family("qwen2.5-vl"), head_dim=24)


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_a_head_dim_32_checkpoint_loads_and_answers(tmp_path, cli, family):
    from PIL import Image

    from vlparse.tools.synthetic import build_checkpoint

    model = build_checkpoint(family, tmp_path / "m", head_dim=32)
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model).text_config
    assert (getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads) == 32
    Image.new("RGB", (320, 256), "white").save(tmp_path / "p.png")
    res = cli("ground", tmp_path / "p.png", "car", "--model", model, "--max-new-tokens", "16", "--jsonl")
    assert res.exit_code == 0, res.stderr
