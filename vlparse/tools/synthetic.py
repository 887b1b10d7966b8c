"""Random-weight checkpoints of the real Qwen VL architectures, built locally.

No model hub is needed: the tests build *tiny* checkpoints (2 layers, hidden 64, the real patch /
merge geometry and the real classes) and load them through the same path users take
(``vlparse … --model PATH``); ``vlparse bench --random-weights qwen2.5-vl-7b`` builds the full-size
architecture from the config values shipped in ``vlparse/data/architectures.json`` to measure speed,
which does not depend on weight values.

The tokenizer is a byte-level BPE trained here on a small corpus of vlparse's own formats, plus the
real Qwen special tokens and a ChatML chat template with the vision placeholders.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from vlparse.core.errors import UsageError
from vlparse.core.families import Family, get_family

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]

# The released Qwen templates: ChatML, an image item becomes the vision placeholder; Qwen2 / 2.5
# add a default system message, Qwen3-VL does not.
_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' and DEFAULT_SYSTEM %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    '<html><body><h1 data-bbox="10 20 300 60">Annual report</h1><p data-bbox="10 80 500 200">The quick brown fox '
    'jumps over the lazy dog.</p><table data-bbox="1 2 3 4"><tr><td>1</td><td>2</td></tr></table>'
    '<div class="image" data-bbox="5 6 7 8"><img data-bbox="5 6 7 8"/></div></body></html>',
    '```json\n[\n  {"bbox_2d": [135, 114, 1016, 672], "label": "red car"},\n  {"point_2d": [42, 17], "label": "dog"}\n]\n```',
    "<ref>the cat</ref><box>(12,34),(560,780)</box> 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
]


def _prompt_texts() -> list[str]:
    """The texts of every shipped prompt: trained on, so prompts tokenise about as compactly as with Qwen's
    own 151k-token vocabulary (a page's prompt costs realistic prefill work in tests and benchmarks)."""
    import tomllib

    texts = []
    root = resources.files("vlparse.prompts")
    for fam in root.iterdir():
        if fam.is_dir():
            for f in fam.iterdir():
                if f.name.endswith(".toml"):
                    data = tomllib.loads(f.read_text(encoding="utf-8"))
                    texts += [v for k, v in data.items() if k in ("system", "user") and isinstance(v, str)]
    return texts


def build_tokenizer(family: Family, vocab_size: int = 1024):
    """A small byte-level BPE tokenizer with the real Qwen special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((_CORPUS + _prompt_texts()) * 20, trainer)
    template = _TEMPLATE.replace("DEFAULT_SYSTEM", "true" if family.name != "qwen3-vl" else "false")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        chat_template=template, padding_side="left",
    )


@lru_cache(maxsize=1)
def architectures() -> dict[str, dict[str, Any]]:
    """Config values of the released checkpoints (vlparse/data/architectures.json)."""
    text = resources.files("vlparse").joinpath("data", "architectures.json").read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


#: the tiny text model's attention head size (vLLM's CPU attention needs at least 32: ``head_dim=32``)
TINY_HEAD_DIM = 16


def tiny_arch(family: Family, *, head_dim: int = TINY_HEAD_DIM) -> dict[str, Any]:
    """2 layers, hidden 64, real patch / merge geometry and the real vision-tower layout.

    ``head_dim`` sets the text model's head size (64 / head_dim heads); the multimodal RoPE sections scale with it.
    """
    if head_dim < 8 or head_dim % 8 or 64 % head_dim:
        raise UsageError(f"the tiny model's head size must be 8, 16, 32 or 64 (got {head_dim})")
    heads = 64 // head_dim
    scale = head_dim // 16 if head_dim >= 16 else 1
    section = [2 * scale, 3 * scale, 3 * scale] if head_dim >= 16 else [1, 1, 2]
    text = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": heads,
            "num_key_value_heads": min(2, heads), "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section}}
    if family.name == "qwen2-vl":
        vision = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2,
                  "patch_size": 14, "spatial_merge_size": 2}
    elif family.name == "qwen2.5-vl":
        vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
                  "fullatt_block_indexes": [1], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2}
    elif family.name == "qwen3-vl":
        text["head_dim"] = head_dim
        text["rope_parameters"]["mrope_interleaved"] = True
        vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
                  "deepstack_visual_indexes": [0], "num_position_embeddings": 256, "patch_size": 16,
                  "spatial_merge_size": 2}
    else:
        raise UsageError(f"{family.title} cannot be built locally (it is not a transformers image-text model)")
    return {"family": family.name, "text": text, "vision": vision}


def make_config(arch: dict[str, Any], tokenizer=None):
    """A transformers config of the architecture; token ids follow ``tokenizer`` when given.

    A released architecture keeps its own vocabulary size (the small tokenizer's ids all lie below it, and the
    parameter count stays the published one); the tiny one, which names none, gets the tokenizer's.
    """
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    cls = {"qwen2-vl": Qwen2VLConfig, "qwen2.5-vl": Qwen2_5_VLConfig, "qwen3-vl": Qwen3VLConfig}[arch["family"]]
    text = dict(arch["text"])
    ids: dict[str, int] = {}
    if tokenizer is not None:
        conv = tokenizer.convert_tokens_to_ids
        text.setdefault("vocab_size", len(tokenizer))
        ids = {"image_token_id": conv("<|image_pad|>"), "video_token_id": conv("<|video_pad|>"),
               "vision_start_token_id": conv("<|vision_start|>"), "vision_end_token_id": conv("<|vision_end|>")}
        text["bos_token_id"] = conv("<|endoftext|>")
        text["eos_token_id"] = conv("<|im_end|>")
        text["pad_token_id"] = conv("<|endoftext|>")
    cfg = cls(text_config=text, vision_config=dict(arch["vision"]),
              tie_word_embeddings=arch.get("tie_word_embeddings", False), **ids)
    return cfg


def make_processor(family: Family, tokenizer):
    from transformers import AutoProcessor  # noqa: F401  (ensures the processor classes are registered)
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen3VLProcessor
    from transformers import Qwen2VLVideoProcessor, Qwen3VLVideoProcessor

    if family.name == "qwen3-vl":
        image = Qwen2VLImageProcessor(patch_size=16, merge_size=2, size={"shortest_edge": family.processor_min_pixels,
                                                                         "longest_edge": family.processor_max_pixels})
        return Qwen3VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=Qwen3VLVideoProcessor(),
                                chat_template=tokenizer.chat_template)
    image = Qwen2VLImageProcessor(patch_size=14, merge_size=2, size={"shortest_edge": family.processor_min_pixels,
                                                                     "longest_edge": family.processor_max_pixels})
    cls = Qwen2_5_VLProcessor if family.name == "qwen2.5-vl" else Qwen2VLProcessor
    return cls(image_processor=image, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
               chat_template=tokenizer.chat_template)


def build_checkpoint(family: str | Family, out_dir: str | Path, *, arch: str | None = None, seed: int = 0,
                     head_dim: int = TINY_HEAD_DIM) -> Path:
    """Write a random-weight checkpoint (model + processor) that ``--model out_dir`` loads.

    ``arch`` names a released size from architectures.json (e.g. "qwen2.5-vl-7b"); default: tiny.
    ``head_dim``: the tiny model's text head size; vLLM (its CPU attention) needs ``head_dim=32`` or more.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    fam = family if isinstance(family, Family) else get_family(family)
    spec = tiny_arch(fam, head_dim=head_dim) if arch is None else architectures()[arch]
    tokenizer = build_tokenizer(fam)
    cfg = make_config(spec, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = cfg.text_config.eos_token_id
    model.generation_config.pad_token_id = cfg.text_config.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    make_processor(fam, tokenizer).save_pretrained(out)
    return out
