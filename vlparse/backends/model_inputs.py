"""Model inputs for a batch of pages: exactly the processor's result, without its per-page text work.

The processor renders the chat template for every page, writes one ``<|image_pad|>`` per visual token
into the text (2,772 of them for an A4 page at the document budget) and tokenises that text again,
page after page, although every page of a run has the same prompt. Here the template is rendered and
tokenised once per prompt, split at the image placeholder, and each page's ids are the prefix, the
image token repeated as often as the page's grid asks, and the suffix. Pixels still go through the
processor's own image processor (pages already on the model's grid skip its resize, a no-op for them).

The first batch is also built the processor's way and compared tensor by tensor; on any difference the
builder says so under ``--verbose`` and uses the processor from then on, so a processor that works
differently can never be mis-fed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlparse.backends.base import Request

from vlparse.core.prompt import Prompt


def chat_messages(prompt: Prompt) -> list[dict]:
    """One page's conversation: optional system text, then the image and the user text."""
    msgs: list[dict] = []
    if prompt.system:
        msgs.append({"role": "system", "content": [{"type": "text", "text": prompt.system}]})
    msgs.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt.user}]})
    return msgs


def _size_kwargs(requests: Sequence[Request]) -> dict[str, Any]:
    first = requests[0]
    if first.min_pixels and first.max_pixels:
        return {"size": {"shortest_edge": first.min_pixels, "longest_edge": first.max_pixels}}
    return {}


class InputBuilder:
    def __init__(self, processor, merge_size: int, patch_size: int):
        self.processor = processor
        self.merge = merge_size
        self.patch = patch_size
        self.tokenizer = processor.tokenizer
        self.image_token = getattr(processor, "image_token", "<|image_pad|>")
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        self._split: dict[Prompt, tuple[list[int], list[int]] | None] = {}
        self.verified: bool | None = None  # None: not checked yet; False: use the processor

    # -- the processor's way ------------------------------------------------------------------------
    def texts(self, requests: Sequence[Request]) -> list[str]:
        return [self.processor.apply_chat_template(chat_messages(r.prompt), add_generation_prompt=True,
                                                   tokenize=False) for r in requests]

    def by_processor(self, requests: Sequence[Request]):
        return self.processor(text=self.texts(requests), images=[r.image for r in requests], return_tensors="pt",
                              padding=True, **_size_kwargs(requests))

    # -- the fast way ---------------------------------------------------------------------------------
    def _prompt_ids(self, prompt: Prompt) -> tuple[list[int], list[int]] | None:
        """Token ids before and after the image placeholder (None: the template has not exactly one)."""
        if prompt not in self._split:
            text = self.processor.apply_chat_template(chat_messages(prompt), add_generation_prompt=True,
                                                      tokenize=False)
            parts = text.split(self.image_token)
            if len(parts) != 2:
                self._split[prompt] = None
            else:
                enc = self.tokenizer(parts, add_special_tokens=False)["input_ids"]
                self._split[prompt] = (list(enc[0]), list(enc[1]))
        return self._split[prompt]

    def by_ids(self, requests: Sequence[Request]):
        """The batch from cached prompt ids; None when a prompt does not allow it."""
        import torch
        from transformers import BatchFeature

        splits = [self._prompt_ids(r.prompt) for r in requests]
        if any(s is None for s in splits):
            return None
        images = [r.image for r in requests]
        on_grid = all(w % (self.patch * self.merge) == 0 and h % (self.patch * self.merge) == 0
                      for w, h in (im.size for im in images))
        pixels = self.processor.image_processor(images=images, return_tensors="pt", do_resize=not on_grid,
                                                **_size_kwargs(requests))
        grid = pixels["image_grid_thw"]
        rows = []
        for (pre, post), (t, h, w) in zip(splits, grid.tolist()):
            rows.append(pre + [self.image_token_id] * (t * h * w // self.merge ** 2) + post)
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding, as the local backend generates
            ids[i, length - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, length - len(row):] = 1
        data = {"input_ids": ids, "attention_mask": mask}
        if "mm_token_type_ids" in self.processor.model_input_names:
            data["mm_token_type_ids"] = (ids == self.image_token_id).long()
        data.update(pixels)
        return BatchFeature(data=data)

    def build(self, requests: Sequence[Request]):
        if self.verified is False or self.tokenizer.padding_side != "left":
            return self.by_processor(requests)
        fast = self.by_ids(requests)
        if fast is None:
            return self.by_processor(requests)
        if self.verified is None:
            reference = self.by_processor(requests)
            self.verified = _same(fast, reference)
            if not self.verified:
                from vlparse.run import console

                console.verbose("model inputs built from cached prompt ids differ from the processor's; "
                                "using the processor")
                return reference
        return fast


def _same(a, b) -> bool:
    import torch

    if set(a.keys()) != set(b.keys()):
        return False
    return all(torch.equal(a[k], b[k]) for k in a.keys())
