"""vlparse's own greedy decode loop for the Qwen VL models: the local backend's fast path.

``model.generate`` spends most of a decode step on framework work, not on the model: per step it
re-prepares inputs, rebuilds the attention mask through the masking utilities, concatenates every
layer's key/value cache into new tensors, runs logits processors and stopping criteria, and (on a
GPU) launches a few hundred small kernels one by one. For a 7B Qwen VL model on one H100 that is
~66 ms per step where the memory-bandwidth limit is ~5 ms. This module keeps the model's own layers
(so the arithmetic is the model's) and removes the rest:

prefill
    The whole left-padded batch, images included, goes through the full model once, through the
    model's own ``prepare_inputs_for_generation`` with the same 4-row mrope position ids
    (``_prepare_position_ids_for_generation``, which also sets ``rope_deltas``) and the same
    ``DynamicCache`` that ``generate`` uses, so the first token is ``generate``'s first token.
    Qwen3-VL's deepstack features enter here (they only touch image positions, which decode never
    sees). The prefill keys/values are then copied into preallocated buffers: the static cache.
decode
    The language model's decoder layers only, one token per row per step: embedding, the
    rotary table of the step's positions (``generate``'s rule: the prompt's last position + 1 on
    every mrope row), each decoder layer with a tiny cache object that writes in place into the
    static buffers, the final norm, the head on the last position, greedy ``argmax`` on the device.
    Finished rows get the pad token (as in ``generate``) and the loop stops when every row is done;
    when at most half the rows are still running, the batch is compacted to them.
CUDA
    The decode step is captured in a CUDA graph (one per attention length bucket; the step then
    also keeps its bookkeeping on the device and the host checks for the end every few steps).
    A failed capture falls back to the eager loop with a one-line note under ``--verbose``.

On the CPU the decode step attends to exactly the keys ``generate`` attends to (views of the static
buffers), so its greedy tokens equal ``generate``'s (tested on the tiny checkpoints of all three
families). The CUDA graph attends to a fixed-length bucket with the unused slots masked out: the same
mathematics, summed in a different order, so a near-tie between two tokens may break differently, as
it already does between batch sizes on a GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

import torch

#: decoder layer types the static cache handles (sliding-window layers go through ``generate``)
_FULL_ATTENTION = "full_attention"
#: attention length granularity of the CUDA graphs (one graph per bucket the decode passes through)
GRAPH_BUCKET = 256
#: on CUDA, the host reads the "all rows finished" flag every this many steps (a read is a sync)
CHECK_EVERY = 8
#: the eager loop computes the rotary cos/sin of this many steps at once
ROPE_CHUNK = 64


def unsupported_reason(model) -> str | None:
    """Why the fast path cannot run this model (it then uses ``generate``), or None."""
    inner = getattr(model, "model", None)
    lm = getattr(inner, "language_model", None)
    if lm is None or not hasattr(lm, "layers") or not hasattr(model, "lm_head"):
        return f"{type(model).__name__} has no model.language_model.layers / lm_head"
    if not hasattr(model, "_prepare_position_ids_for_generation") or not hasattr(inner, "get_rope_index"):
        return f"{type(model).__name__} computes no mrope position ids"
    types = set(getattr(lm.config, "layer_types", None) or [_FULL_ATTENTION])
    if types != {_FULL_ATTENTION}:
        return f"layer types {sorted(types)} (sliding-window attention) need generate's cache"
    if lm.config._attn_implementation not in ("sdpa", "eager"):
        return f"attention implementation {lm.config._attn_implementation}"
    return None


def _generate_fallback(model, inputs, max_new_tokens: int, eos_ids: list[int], pad_id: int, ignore_eos: bool):
    from transformers import GenerationConfig

    # explicit values: a None would be filled from the checkpoint's generation_config (e.g. a repetition penalty)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id, repetition_penalty=1.0,
                           eos_token_id=[] if ignore_eos else list(eos_ids))  # []: no end token at all
    prompt_len = inputs["input_ids"].shape[1]
    with torch.inference_mode():
        return model.generate(**inputs, generation_config=cfg)[:, prompt_len:]


MODES = ("auto", "eager", "static", "graph")


def fast_generate(model, inputs, *, max_new_tokens: int, eos_ids: list[int], pad_id: int, ignore_eos: bool = False,
                  mode: str = "auto", stats: dict | None = None) -> torch.LongTensor:
    """Greedy generation, same contract as ``model.generate(**inputs, do_sample=False)[:, prompt_len:]``.

    ``inputs``: the processor's left-padded batch (input_ids, attention_mask, pixel_values,
    image_grid_thw, mm_token_type_ids), on the model's device. Returns [batch, new_tokens] ids, each
    row right-padded with ``pad_id`` after its EOS; ``new_tokens`` is the longest row's length.
    ``ignore_eos`` forces ``max_new_tokens`` tokens per row (benchmarks).
    ``mode``: "auto" (CUDA graphs when the model sits on one CUDA device, else eager), "eager" (attention
    over exactly the keys so far: ``generate``'s arithmetic), "graph" (the fixed-shape step replayed from
    CUDA graphs) or "static" (that same fixed-shape step run eagerly: checks the graph step without a GPU).
    ``stats``, when given, receives prefill_s, decode_s, steps (decode forward passes), row_steps (rows
    summed over those passes) and the mode used.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if mode == "graph" and not torch.cuda.is_available():
        raise ValueError("mode 'graph' needs CUDA")
    reason = unsupported_reason(model)
    if reason is not None:
        from vlparse.run import console

        console.verbose(f"fast generation does not apply ({reason}); using generate")
        t0 = time.perf_counter()
        out = _generate_fallback(model, inputs, max_new_tokens, eos_ids, pad_id, ignore_eos)
        if stats is not None:
            stats.update(prefill_s=None, decode_s=time.perf_counter() - t0, steps=out.shape[1],
                         row_steps=out.shape[0] * out.shape[1], mode="generate")
        return out
    with torch.inference_mode():
        return _Decoder(model, eos_ids, pad_id, ignore_eos).run(inputs, max_new_tokens, mode, stats)


class _StaticKV:
    """The static key/value cache: one preallocated [rows, kv_heads, capacity, head_dim] pair per layer.

    Decoder layers call ``update(k, v, layer_idx)`` with the step's new key/value; it is written in
    place at ``slot`` (a 1-element device tensor, so a CUDA graph can replay it) and the first
    ``visible`` positions are returned for attention.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], slot: torch.Tensor):
        self.keys, self.values, self.slot = keys, values, slot
        self.visible = 0

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        k, v = self.keys[layer_idx], self.values[layer_idx]
        slot = self.slot if self.slot.device == k.device else self.slot.to(k.device)  # layers split over GPUs
        k.index_copy_(2, slot, key_states)
        v.index_copy_(2, slot, value_states)
        return k[:, :, : self.visible], v[:, :, : self.visible]

    def select_rows(self, rows: torch.Tensor) -> None:
        self.keys = [k.index_select(0, rows.to(k.device)) for k in self.keys]
        self.values = [v.index_select(0, rows.to(v.device)) for v in self.values]


def _rows(dim: int | None):
    """A :class:`_RunState` field: ``dim`` is its row dimension (compaction selects along it), None: shared."""
    return field(metadata={"row_dim": dim})


@dataclass
class _RunState:
    """Everything a decode step reads and writes on the device, in one object.

    Compaction (:meth:`select_rows`) and the CUDA-graph warm-up's snapshot/restore iterate over the fields,
    so a field added here is carried by both; every field must say whether (and along which dimension) it
    has one entry per running row (checked when the state is made).
    """

    out: torch.Tensor = _rows(0)  # [rows, max_new_tokens] the tokens so far
    done: torch.Tensor = _rows(0)  # [rows] finished (EOS seen)
    tok: torch.Tensor = _rows(0)  # [rows, 1] the step's input token
    pos: torch.Tensor = _rows(1)  # [4, rows, 1] the step's positions (text row + 3 mrope rows)
    valid: torch.Tensor = _rows(0)  # [rows, capacity] the keys each row may attend to
    rows: torch.Tensor = _rows(0)  # [rows] the original batch row of each running row
    slot: torch.Tensor = _rows(None)  # [1] where this step's key/value go (shared with the static cache)
    col: torch.Tensor = _rows(None)  # [1] where this step's token goes
    rope: tuple | None = _rows(0)  # eager loop: (cos, sin) [rows, ROPE_CHUNK, dim] of the next steps, or None

    def __post_init__(self) -> None:
        missing = [f.name for f in fields(self) if "row_dim" not in f.metadata]
        if missing:
            raise TypeError(f"_RunState fields without a row dimension: {missing}")

    def _tensors(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                yield f.name, value

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {name: t.clone() for name, t in self._tensors()}

    def restore(self, saved: dict[str, torch.Tensor]) -> None:
        for name, t in self._tensors():
            t.copy_(saved[name])

    def select_rows(self, keep: torch.Tensor) -> None:
        """Keep only the rows ``keep`` (indices) of every per-row field."""
        for f in fields(self):
            dim, value = f.metadata["row_dim"], getattr(self, f.name)
            if dim is None or value is None:
                continue
            if isinstance(value, tuple):
                setattr(self, f.name, tuple(v.index_select(dim, keep.to(v.device)) for v in value))
            else:
                setattr(self, f.name, value.index_select(dim, keep.to(value.device)).contiguous())


class _Decoder:
    def __init__(self, model, eos_ids: list[int], pad_id: int, ignore_eos: bool):
        self.model = model
        self.lm = model.model.language_model
        self.head = model.lm_head
        self.pad_id = pad_id
        self.ignore_eos = ignore_eos
        self.eos_list = list(eos_ids)
        # the bound forward skips nn.Module's call machinery, unless a layer has hooks that must run
        self.layers = [layer if _has_hooks(layer) else layer.forward for layer in self.lm.layers]
        # decoder layers of the known Qwen VL shape run as their plain tensor operations (see _lean_layer)
        self.lean = _lean_ok(self.lm)

    # -- prefill ----------------------------------------------------------------------------------
    def _prefill(self, inputs) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """(first tokens [B], the prompt's last 4-row positions [4, B, 1], the DynamicCache)."""
        from transformers import DynamicCache

        model = self.model
        input_ids = inputs["input_ids"]
        kwargs = {k: v for k, v in inputs.items() if k != "input_ids" and v is not None}
        # exactly generate's position ids (text row + 3 mrope rows); sets model.model.rope_deltas
        position_ids = model._prepare_position_ids_for_generation(input_ids, kwargs)
        mask = kwargs.pop("attention_mask", None)
        if mask is not None and bool((mask == 1).all()):
            mask = None  # generate drops an all-ones mask (it lets attention use the causal kernel)
        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        model_inputs = model.prepare_inputs_for_generation(
            input_ids, cache=cache, attention_mask=mask, position_ids=position_ids, is_first_iteration=True,
            use_cache=True, logits_to_keep=1, **kwargs)
        out = model(**model_inputs, return_dict=True)
        first = out.logits[:, -1].to(dtype=torch.float32).argmax(-1)
        last = position_ids[..., -1:]
        if last.shape[0] == 3:  # models without the text row: it equals the first mrope row
            last = torch.cat([last[:1], last], 0)
        return first, last, out.cache

    # -- one decode step ----------------------------------------------------------------------------
    def _forward(self, tok: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None,
                 rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Next-token ids [B] for input tokens [B, 1] at 4-row positions [4, B, 1] (``rope``: their cos/sin)."""
        lm = self.lm
        h = lm.embed_tokens(tok)
        if rope is None:
            rope = lm.rotary_emb(h, pos[1:])
        if self.lean is not None:
            cos, sin = rope
            for idx, layer in enumerate(lm.layers):
                h = _lean_layer(layer, idx, h, mask, cos, sin, self.kv, self.lean)
        else:
            text_pos = pos[0]
            for layer in self.layers:
                h = layer(h, attention_mask=mask, position_ids=text_pos, cache=self.kv, use_cache=True,
                          position_embeddings=rope)
        h = lm.norm(h)
        logits = self.head(h[:, -1:, :])
        return logits[:, -1].to(dtype=torch.float32).argmax(-1)

    def _bookkeep(self, nxt: torch.Tensor) -> None:
        """Record the step's tokens and advance the device-side state (graph-capturable)."""
        st = self.st
        nxt = torch.where(st.done, self.pad, nxt)
        st.out.index_copy_(1, st.col, nxt[:, None])
        if not self.ignore_eos:
            st.done |= torch.isin(nxt, self.eos)
        st.tok.copy_(nxt[:, None])
        st.pos.add_(1)
        st.slot.add_(1)
        st.col.add_(1)
        st.valid.index_fill_(1, st.slot, True)

    def _exact_step(self) -> None:
        """The eager step: attention over exactly the keys written so far, as in ``generate``."""
        st = self.st
        self.kv.visible = self.host_slot + 1
        mask = st.valid[:, None, None, : self.kv.visible].contiguous() if self.has_padding else None
        i = self.host_slot - self.rope_from
        if st.rope is None or i >= st.rope[0].shape[1]:
            self._fill_rope_table()
            i = 0
        rope = (st.rope[0][:, i:i + 1], st.rope[1][:, i:i + 1])
        self._bookkeep(self._forward(st.tok, st.pos, mask, rope))

    def _fill_rope_table(self) -> None:
        """cos/sin of the next ROPE_CHUNK steps' positions in one call, instead of a dozen small ops per step."""
        steps = torch.arange(ROPE_CHUNK, device=self.st.pos.device).view(1, 1, -1)
        pos = self.st.pos[1:] + steps  # [3, B, ROPE_CHUNK]: the positions grow by one per step on every row
        self.st.rope = tuple(self.lm.rotary_emb(self.lm.embed_tokens.weight[:1], pos))
        self.rope_from = self.host_slot

    def _static_step(self, visible: int) -> None:
        """The fixed-shape step a CUDA graph captures: attention over a bucket of ``visible`` slots, the
        ones not written yet masked out; every input and output is a device tensor updated in place."""
        self.kv.visible = visible
        st = self.st
        self._bookkeep(self._forward(st.tok, st.pos, st.valid[:, None, None, :visible]))

    def _bucket(self, n: int) -> int:
        return min(self.capacity, -(-n // GRAPH_BUCKET) * GRAPH_BUCKET)

    # -- CUDA graphs ----------------------------------------------------------------------------------
    def _graph_for(self, visible: int):
        g = self.graphs.get(visible)
        if g is not None:
            return g
        # warm up on a side stream (lazy initialisations, cuBLAS workspaces), undo its state changes
        saved = self.st.snapshot()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._static_step(visible)
        torch.cuda.current_stream().wait_stream(side)
        self.st.restore(saved)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=self.pool):  # records, does not run
            self._static_step(visible)
        self.pool = g.pool()
        self.graphs[visible] = g
        return g

    # -- the loop -------------------------------------------------------------------------------------
    def run(self, inputs, max_new_tokens: int, mode: str, stats: dict | None) -> torch.LongTensor:
        t0 = time.perf_counter()
        first, last_pos, cache = self._prefill(inputs)
        device = first.device
        B, L = inputs["input_ids"].shape
        self.capacity = L + max_new_tokens
        self.pad = torch.tensor(self.pad_id, device=device)
        self.eos = torch.tensor(self.eos_list or [-1], device=device)
        out = torch.full((B, max_new_tokens), self.pad_id, dtype=torch.long, device=device)
        out[:, 0] = first
        done = torch.zeros(B, dtype=torch.bool, device=device)
        if not self.ignore_eos:
            done |= torch.isin(first, self.eos)
        attn = inputs.get("attention_mask")
        self.has_padding = attn is not None and not bool((attn == 1).all())
        valid = torch.zeros(B, self.capacity, dtype=torch.bool, device=device)  # keys a row may attend to
        valid[:, :L] = attn.bool() if attn is not None else True
        valid[:, L] = True
        self.st = _RunState(
            out=out, done=done, tok=first[:, None].clone(),
            pos=(last_pos + 1).contiguous(),  # generate's rule: the prompt's last position + 1, every row
            valid=valid, rows=torch.arange(B, device=device),
            slot=torch.tensor([L], dtype=torch.long, device=device), col=torch.tensor([1], dtype=torch.long, device=device),
            rope=None)
        self.kv = _StaticKV(*self._static_buffers(cache, B, L), self.st.slot)
        del cache
        self.final = out  # the whole batch's output; running rows are written back on compaction
        self.host_slot = L
        self.rope_from = L
        if stats is not None:
            _sync(device)
            stats["prefill_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()

        if mode == "auto":
            mode = "graph" if _graphs_possible(self.model, device) else "eager"
        check_every = CHECK_EVERY if mode == "graph" else 1  # a check reads the device: a sync
        self.graphs: dict[int, Any] = {}
        self.pool = None
        self.compactions = 0
        steps = row_steps = 0
        for step in range(1, max_new_tokens):
            if not self.ignore_eos and (step - 1) % check_every == 0:
                running = int((~self.st.done).sum())
                if running == 0:
                    break
                if running * 2 <= self.st.done.numel() and self.st.done.numel() >= 4:
                    self._compact()
            if mode == "graph":
                try:
                    self._graph_for(self._bucket(self.host_slot + 1)).replay()
                except Exception as e:  # noqa: BLE001 - any capture failure: the eager step is always right
                    from vlparse.run import console

                    console.verbose(f"CUDA graph capture failed ({type(e).__name__}: {' '.join(str(e).split())[:120]}); "
                                    "decoding without graphs")
                    torch.cuda.synchronize()
                    self.graphs.clear()
                    mode = "eager"
                    check_every = 1
                    self._exact_step()
            elif mode == "static":
                self._static_step(self._bucket(self.host_slot + 1))
            else:
                self._exact_step()
            self.host_slot += 1
            steps += 1
            row_steps += self.st.done.numel()
        self._write_back()
        if stats is not None:
            _sync(device)
            stats.update(decode_s=time.perf_counter() - t1, steps=steps, row_steps=row_steps, mode=mode,
                         compactions=self.compactions)
        return _trim(self.final, self.eos, self.ignore_eos)

    def _static_buffers(self, cache, B: int, L: int):
        keys, values = [], []
        for layer in cache.layers:
            k, v = layer.keys, layer.values
            kb = k.new_zeros((B, k.shape[1], self.capacity, k.shape[3]))
            vb = v.new_zeros((B, v.shape[1], self.capacity, v.shape[3]))
            kb[:, :, :L].copy_(k)
            vb[:, :, :L].copy_(v)
            keys.append(kb)
            values.append(vb)
            layer.keys = layer.values = None  # free the prefill copy as we go
        return keys, values

    def _compact(self) -> None:
        """Drop finished rows from the running batch (their output is complete)."""
        self._write_back()
        keep = (~self.st.done).nonzero().squeeze(1)
        self.kv.select_rows(keep)
        self.st.select_rows(keep)  # every per-row field of the state, none forgotten
        self.compactions += 1
        self.graphs.clear()  # shapes changed
        self.pool = None

    def _write_back(self) -> None:
        if self.final is not self.st.out:
            self.final[self.st.rows] = self.st.out


def _trim(out: torch.Tensor, eos: torch.Tensor, ignore_eos: bool) -> torch.LongTensor:
    """Cut the columns after the longest row's EOS (generate stops as soon as every row is done)."""
    if ignore_eos or out.shape[1] == 0:
        return out
    is_eos = torch.isin(out, eos)
    has = is_eos.any(1)
    if bool(has.all()):
        length = int((is_eos.int().argmax(1) + 1).max())
        return out[:, :length]
    return out


#: decoder layers whose forward is exactly: norm, attention (q/k/v projections, Qwen3's per-head q/k norms,
#: rotary, cache, the attention interface, o projection), residual, norm, gated MLP, residual
_LEAN_LAYERS = frozenset({"Qwen2VLDecoderLayer", "Qwen2_5_VLDecoderLayer", "Qwen3VLTextDecoderLayer"})


def _lean_ok(lm):
    """The rotary function of the layers' module when every layer can run as plain tensor operations, else None.

    Plain ``nn.Linear`` projections only (quantised layers keep their own forward), no hooks anywhere (accelerate's
    offloading, adapters), SDPA attention; the arithmetic is then the layer's own, op for op.
    """
    import sys

    if lm.config._attn_implementation != "sdpa":
        return None
    rotary = None
    for layer in lm.layers:
        if type(layer).__name__ not in _LEAN_LAYERS or any(_has_hooks(m) for m in layer.modules()):
            return None
        attn, mlp = layer.self_attn, layer.mlp
        linears = [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]
        if any(type(m) is not torch.nn.Linear for m in linears):
            return None
        rotary = getattr(sys.modules[type(attn).__module__], "apply_rotary_pos_emb", None)
        if rotary is None:
            return None
    return rotary


def _lean_layer(layer, idx: int, h: torch.Tensor, mask, cos, sin, kv, rotary) -> torch.Tensor:
    """One decoder layer for one new token per row, as the layer's forward computes it, minus the module calls."""
    from torch.nn.functional import linear
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    attn, mlp = layer.self_attn, layer.mlp
    b = h.shape[0]
    x = layer.input_layernorm.forward(h)
    q = linear(x, attn.q_proj.weight, attn.q_proj.bias).view(b, 1, -1, attn.head_dim)
    k = linear(x, attn.k_proj.weight, attn.k_proj.bias).view(b, 1, -1, attn.head_dim)
    v = linear(x, attn.v_proj.weight, attn.v_proj.bias).view(b, 1, -1, attn.head_dim).transpose(1, 2)
    if hasattr(attn, "q_norm"):  # Qwen3-VL: RMSNorm over each head
        q, k = attn.q_norm.forward(q), attn.k_norm.forward(k)
    q, k = rotary(q.transpose(1, 2), k.transpose(1, 2), cos, sin)
    k, v = kv.update(k, v, idx)
    o, _ = sdpa_attention_forward(attn, q, k, v, mask, dropout=0.0, scaling=attn.scaling)
    h = h + linear(o.reshape(b, 1, -1).contiguous(), attn.o_proj.weight, attn.o_proj.bias)
    x = layer.post_attention_layernorm.forward(h)
    gate = linear(x, mlp.gate_proj.weight, mlp.gate_proj.bias)
    up = linear(x, mlp.up_proj.weight, mlp.up_proj.bias)
    return h + linear(mlp.act_fn(gate) * up, mlp.down_proj.weight, mlp.down_proj.bias)


def _has_hooks(module: torch.nn.Module) -> bool:
    from torch.nn.modules import module as m

    return bool(module._forward_hooks or module._forward_pre_hooks or m._global_forward_hooks
                or m._global_forward_pre_hooks)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _graphs_possible(model, device: torch.device) -> bool:
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    devices = {str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()}
    return len(devices) <= 1
