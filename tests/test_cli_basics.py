"""The command line itself: version, help with an example per command, env, usage errors."""

import json

import pytest

from vlparse import __version__


def test_version(cli):
    res = cli("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"vlparse {__version__}"


def test_help_lists_every_command_with_an_example(cli):
    res = cli("--help")
    assert res.exit_code == 0
    for command in ("doc", "ground", "render", "bench", "env"):
        assert f"vlparse {command} " in res.stdout, command
    assert "Exit codes" in res.stdout


def test_env_reports_versions_devices_and_families(cli):
    res = cli("env", "--json")
    assert res.exit_code == 0
    info = json.loads(res.stdout)
    assert info["packages"]["transformers"] and info["packages"]["torch"]
    assert "bitsandbytes" in info["packages"] and "available" in info["cuda"]
    assert {f["name"] for f in info["families"]} == {"qwen-vl", "qwen2-vl", "qwen2.5-vl", "qwen3-vl"}
    assert info["default_model"] == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_unknown_command_and_option_are_usage_errors(cli):
    assert cli("frobnicate").exit_code == 2
    res = cli("render", "x.pdf", "-o", "o", "--no-such-option")
    assert res.exit_code == 2 and "Traceback" not in res.stderr


def test_unknown_family_is_one_line_and_exit_3(cli, tmp_path):
    res = cli("render", tmp_path / "x.pdf", "-o", tmp_path / "o", "--family", "llava")
    assert res.exit_code == 3
    assert res.stderr.strip().splitlines() == ["vlparse: error: unknown model family 'llava' (choose from: qwen-vl, "
                                               "qwen2-vl, qwen2.5-vl, qwen3-vl)"]


def test_vlparse_model_environment_variable_picks_the_model(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("VLPARSE_MODEL", str(tmp_path / "my-model"))
    from pdfs import make_pdf

    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    res = cli("doc", pdf, "-o", tmp_path / "a.json")
    assert res.exit_code == 3 and "my-model does not exist" in res.stderr


def _pdf(tmp_path):
    from pdfs import make_pdf

    return make_pdf(tmp_path / "a.pdf", pages=1)


def _one_error_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vlparse: error: ") and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_a_hub_id_without_network_says_how_to_pass_a_local_path(cli, tmp_path):
    res = cli("doc", _pdf(tmp_path), "--model", "Qwen/Qwen2.5-VL-7B-Instruct", "-o", tmp_path / "a.json")
    assert res.exit_code == 3 and "--model PATH" in _one_error_line(res)


@pytest.mark.slow
def test_quantisation_without_bitsandbytes_is_exit_3(cli, tmp_path, tiny_models, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    res = cli("doc", _pdf(tmp_path), "--model", tiny_models["qwen2.5-vl"], "--quant", "4bit", "-o", tmp_path / "a.json")
    assert res.exit_code == 3 and "pip install bitsandbytes" in _one_error_line(res)


@pytest.mark.slow
def test_a_gpu_asked_for_on_a_machine_without_one_is_exit_3(cli, tmp_path, tiny_models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    res = cli("doc", _pdf(tmp_path), "--model", tiny_models["qwen2.5-vl"], "--device", "cuda", "-o", tmp_path / "a.json")
    assert res.exit_code == 3 and "no CUDA GPU" in _one_error_line(res)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_each_tiny_family_runs_through_the_cli(cli, tmp_path, tiny_models, family):
    from PIL import Image

    Image.new("RGB", (320, 200), "white").save(tmp_path / "x.png")
    res = cli("ground", tmp_path / "x.png", "red car", "--model", tiny_models[family], "--max-new-tokens", "16",
              "--retries", "0", "--json")
    assert res.exit_code == 0, res.stderr
    [rec] = [json.loads(x) for x in res.stdout.splitlines()]
    assert rec["family"] == family and (rec["width"], rec["height"]) == (320, 200)
    factor = 32 if family == "qwen3-vl" else 28
    assert rec["model_width"] % factor == 0 and rec["model_height"] % factor == 0
    assert rec["status"] in ("ok", "repaired", "truncated", "repetition") and isinstance(rec["raw"], str)
