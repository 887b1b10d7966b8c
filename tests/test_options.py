"""Options objects, choices and defaults: one home for each, the CLI and the library agreeing on them."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from vlparse.backends.local import LoadOptions
from vlparse.cli import main
from vlparse.core import options as opt
from vlparse.core.errors import UsageError
from vlparse.core.families import FAMILIES, pixel_budget
from vlparse.core.results import PageStatus

OPTIONS = [opt.BackendOptions, opt.RunOptions, opt.DocOptions, opt.GroundOptions, LoadOptions]


def test_default_budgets_per_family_are_pinned():
    # pixels = visual tokens * factor**2 (factor 28 for 2.x, 32 for Qwen3-VL)
    got = {name: (f.default_min_pixels(), f.default_max_pixels("doc"), f.default_max_pixels("ground"),
                  f.default_max_pixels("points")) for name, f in FAMILIES.items()}
    assert got == {
        "qwen-vl": (4 * 784, 2800 * 784, 1280 * 784, 1280 * 784),
        "qwen2-vl": (4 * 784, 2800 * 784, 1280 * 784, 1280 * 784),
        "qwen2.5-vl": (4 * 784, 2800 * 784, 1280 * 784, 1280 * 784),
        "qwen3-vl": (64 * 1024, 2800 * 1024, 1280 * 1024, 1280 * 1024),
    }
    b = pixel_budget(FAMILIES["qwen3-vl"], "doc", max_pixels=500_000)
    assert (b.min_pixels, b.max_pixels) == (65536, 500_000)


def test_shared_defaults_are_pinned():
    assert opt.MAX_NEW_TOKENS == {"doc": 8192, "ground": 2048, "points": 2048, "extract": 4096}
    assert (opt.CONCURRENCY, opt.TIMEOUT, opt.RETRIES, opt.FAST_DECODING) == (4, 600.0, 1, True)
    b, r = opt.BackendOptions(), opt.RunOptions()
    assert (b.backend, b.dtype, b.quant, b.device, b.attn) == ("local", "auto", "none", "auto", "sdpa")
    assert (b.concurrency, b.timeout, b.fast, r.retries) == (4, 600.0, True, 1)
    assert r.tokens_for("doc") == 8192 and r.tokens_for("ground") == 2048
    assert opt.RunOptions(max_new_tokens=99).tokens_for("doc") == 99


def test_the_lower_layers_take_their_defaults_from_the_one_home():
    import inspect

    from vlparse.backends.base import Request
    from vlparse.backends.openai import OpenAIBackend
    from vlparse.run.pipeline import RunConfig

    params = inspect.signature(OpenAIBackend.__init__).parameters
    assert (params["concurrency"].default, params["timeout"].default) == (opt.CONCURRENCY, opt.TIMEOUT)
    assert {f.name: f.default for f in dataclasses.fields(Request)}["max_new_tokens"] == opt.MAX_NEW_TOKENS["doc"]
    assert {f.name: f.default for f in dataclasses.fields(RunConfig)}["retries"] == opt.RETRIES


def test_fast_decoding_is_on_in_the_library_as_in_the_cli():
    assert LoadOptions(model="m").fast is True
    assert opt.BackendOptions().fast is True


@pytest.mark.parametrize("cls", OPTIONS, ids=lambda c: c.__name__)
def test_options_are_keyword_only(cls):
    assert all(f.kw_only for f in dataclasses.fields(cls))
    with pytest.raises(TypeError):
        cls("positional")


def test_choices_are_enums_and_validated():
    b = opt.BackendOptions(backend="openai", dtype="bf16", quant="4bit", attn="eager", device="CUDA:1")
    assert b.backend is opt.BackendKind.OPENAI and b.dtype is opt.Dtype.BF16 and b.quant is opt.Quant.INT4
    assert b.device == "cuda:1"
    assert {"bf16": 1}[opt.Dtype.BF16] == 1 and f"{opt.Quant.INT8}" == "8bit" and json.dumps(opt.Attn.SDPA) == '"sdpa"'
    for bad in ({"dtype": "int3"}, {"backend": "tgi"}, {"device": "gpu"}, {"device": "cuda:x"}, {"quant": "2bit"}):
        with pytest.raises(UsageError):
            opt.BackendOptions(**bad)
    assert PageStatus("failed") == "failed"


def _help(*args, capsys):
    assert main([*args, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["doc", "ground"])
def test_help_lists_every_choice_and_every_shared_option(command, capsys):
    text = _help(command, capsys=capsys)
    for enum in (opt.BackendKind, opt.Dtype, opt.Quant):
        assert "|".join(enum.values()) in text, enum
    assert "sdpa|flash_attention_2" in text and "[auto|cpu|cuda|cuda:N]" in text
    for cls in (opt.BackendOptions, opt.RunOptions):
        for f in dataclasses.fields(cls):
            if "cli" in f.metadata:
                assert f.metadata["cli"]["flags"][0] in text, f.name


def test_top_level_help_lists_every_choice(capsys):
    text = _help(capsys=capsys)
    for enum in (opt.BackendKind, opt.Dtype, opt.Quant, opt.Attn, opt.TaskKind):
        assert "|".join(enum.values()) in text, enum
    assert "auto|cpu|cuda|cuda:N" in text


def test_render_help_lists_the_tasks(capsys):
    assert "doc|ground|points" in _help("render", capsys=capsys)


def test_shared_options_reach_the_options_objects(monkeypatch):
    seen = {}
    import vlparse.run.doc
    import vlparse.run.ground

    # the commands look run_doc / run_ground up when they run (vlparse.run exports them lazily)
    monkeypatch.setattr(vlparse.run.doc, "run_doc", lambda o: seen.setdefault("doc", o) and 0)
    monkeypatch.setattr(vlparse.run.ground, "run_ground", lambda o: seen.setdefault("ground", o) and 0)
    common = ["--dtype", "bf16", "--device", "cuda:1", "--base-url", "http://a/v1", "--base-url", "http://b/v1",
              "--retries", "0", "--dpi", "100", "--max-new-tokens", "64", "--concurrency", "2", "-q"]
    main(["doc", "x.pdf", "--html", *common])
    main(["ground", "x.png", "car", *common])
    for name in ("doc", "ground"):
        o = seen[name]
        assert o.backend.dtype is opt.Dtype.BF16 and o.backend.device == "cuda:1" and o.backend.concurrency == 2
        assert o.backend.base_urls == ["http://a/v1", "http://b/v1"] and o.backend.fast is True
        assert (o.retries, o.dpi, o.max_new_tokens, o.quiet) == (0, 100.0, 64, True)
    assert seen["doc"].formats == ["html"] and seen["ground"].queries == ["car"]
    # nothing given: the dataclasses' defaults, not a second copy of them
    seen.clear()
    main(["doc", "x.pdf"])
    assert seen["doc"].backend == opt.BackendOptions() and seen["doc"].max_new_tokens is None


@pytest.mark.parametrize("args", [["--dtype", "int3"], ["--device", "gpu"], ["--device", "cuda:x"],
                                  ["--backend", "tgi"], ["--attn", "flash"]])
def test_a_bad_choice_is_a_usage_error(args, capsys):
    assert main(["doc", "x.pdf", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and args[0] in err


def test_every_shared_option_has_an_alias_for_other_commands():
    from vlparse.commands import _options as o

    for cls in (opt.BackendOptions, opt.RunOptions):
        for f in dataclasses.fields(cls):
            if "cli" in f.metadata:
                name = "BaseUrl" if f.name == "base_urls" else "".join(p.capitalize() for p in f.name.split("_"))
                info = getattr(o, name).__metadata__[0]  # typer.Option("--flag", ...): the first flag is its .default
                assert info.default == f.metadata["cli"]["flags"][0], name
