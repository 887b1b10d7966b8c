"""``vlparse bench`` on the CPU: tiny checkpoints, the synthetic document, PDFs, and the released architectures."""

import json

import pytest
from pdfs import make_pdf

from vlparse.tools import bench
from vlparse.core.families import get_family
from vlparse.tools.synthetic import architectures, tiny_arch

FIELDS = {"path", "quant", "batch_size", "pages", "new_tokens", "pages_per_s", "output_tok_per_s", "decode_tok_per_s",
          "ms_per_decode_step", "prefill_s_per_page", "peak_gpu_mem_gib", "weights_gib", "render_share", "speedup",
          "decode_mode", "decode_steps"}


@pytest.mark.slow
def test_json_on_a_tiny_checkpoint_has_every_figure_for_both_paths(cli, tiny_models):
    r = cli("bench", "--model", tiny_models["qwen2.5-vl"], "--new-tokens", "4", "--batch-size", "1",
            "--batch-size", "3", "--page-count", "3", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["family"] == "qwen2.5-vl" and out["device"] == "cpu" and out["pages"] == 3
    assert out["visual_tokens"] <= bench.CPU_PAGE_TOKENS  # the CPU page budget
    assert set(out["definitions"]) <= FIELDS
    runs = out["runs"]
    assert [(x["path"], x["batch_size"]) for x in runs] == [("cookbook", 1), ("vlparse", 1), ("vlparse", 3)]
    for x in runs:
        assert FIELDS <= set(x)
        assert x["new_tokens"] == 3 * 4  # EOS ignored: every page gets exactly --new-tokens
        assert x["peak_gpu_mem_gib"] is None  # no GPU
        assert x["output_tok_per_s"] > 0 and x["ms_per_decode_step"] > 0 and 0 < x["render_share"] < 1
    assert runs[0]["speedup"] == 1.0 and runs[0]["decode_mode"] == "generate"
    assert runs[1]["decode_mode"] == "eager"
    # decode passes: 3 per page one at a time; 3 in all when the three pages share a batch
    assert [x["decode_steps"] for x in runs] == [9, 9, 3]


@pytest.mark.slow
def test_table_and_a_pdf_page_selection(cli, tiny_models, tmp_path):
    pdf = make_pdf(tmp_path / "doc.pdf", pages=3)
    r = cli("bench", "--model", tiny_models["qwen3-vl"], "--pdf", pdf, "--pages", "2-3", "--new-tokens", "3",
            "--batch-size", "2")
    assert r.exit_code == 0, r.stderr
    assert "cookbook" in r.stdout and "vlparse (eager)" in r.stdout and "speed-up" in r.stdout
    assert "2 pages of" in r.stdout


@pytest.mark.slow
def test_quantised_runs_are_measured_too(cli, tiny_models):
    r = cli("bench", "--model", tiny_models["qwen2.5-vl"], "--new-tokens", "3", "--batch-size", "2",
            "--page-count", "2", "--quant", "none", "--quant", "4bit", "--json")
    assert r.exit_code == 0, r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert [(x["path"], x["quant"]) for x in runs] == [("cookbook", "none"), ("vlparse", "none"),
                                                       ("cookbook", "4bit"), ("vlparse", "4bit")]
    assert runs[2]["weights_gib"] < runs[0]["weights_gib"]  # 4-bit language model weights


def test_a_released_size_on_the_cpu_says_a_gpu_is_needed_with_its_parameter_count(cli):
    r = cli("bench", "--random-weights", "qwen2.5-vl-7b", "--device", "cpu")
    assert r.exit_code == 3
    line = r.stderr.strip()
    assert "\n" not in line and "CUDA GPU" in line and "8.29B parameters" in line and "--check" in line


@pytest.mark.parametrize("arch", ["qwen2.5-vl-7b", "qwen2.5-vl-3b", "qwen3-vl-8b"])
def test_check_builds_the_architecture_on_the_meta_device_and_matches_the_published_size(cli, arch):
    r = cli("bench", "--random-weights", arch, "--check", "--json")
    assert r.exit_code == 0, r.stderr
    c = json.loads(r.stdout)["check"]
    assert c["match"] is True and c["params_b"] == architectures()[arch]["published_params"]
    assert c["params"] > 3e9


@pytest.mark.parametrize("args,msg", [
    (["--random-weights", "qwen9-vl"], "unknown architecture"),
    ([], "--model DIR"),
    (["--model", "x", "--random-weights", "qwen2.5-vl-7b"], "not both"),
    (["--check"], "--check needs --random-weights"),
    (["--model", "x", "--quant", "3bit"], "--quant"),
])
def test_usage_errors(cli, args, msg):
    r = cli("bench", *args)
    assert r.exit_code == 2 and msg in r.stderr


@pytest.mark.slow
def test_random_weights_are_built_in_process_with_the_architectures_vocabulary(monkeypatch, tmp_path):
    spec = tiny_arch(get_family("qwen2.5-vl"))
    spec["text"]["vocab_size"] = 1000  # larger than the small tokenizer's, as the real ones are
    monkeypatch.setattr(bench, "_arch", lambda name: spec)
    backend = bench.random_backend("tiny", bench.BenchOptions(device="cpu"), "none", tmp_path)
    assert backend.model.lm_head.out_features == 1000
    fam = backend.family
    budget = bench.default_budget(fam, "cpu", None)
    images, _ = bench.render_pages(str(bench.synthetic_pdf(tmp_path / "s.pdf", 2)), None, fam, budget, None)
    from vlparse.run.prompts import load_prompt

    reqs = bench._requests(images, load_prompt(fam, "doc"), budget, 3)
    assert bench.vlparse_path(backend, reqs, 3, 2)["tokens"] == 6
    assert bench.cookbook(backend, reqs, 3)["tokens"] == 6


@pytest.mark.slow
def test_a_family_without_a_document_prompt_is_benchmarked_with_its_grounding_prompt(cli, tiny_models):
    r = cli("bench", "--model", tiny_models["qwen2-vl"], "--new-tokens", "3", "--batch-size", "2",
            "--page-count", "2", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["family"] == "qwen2-vl"


def test_released_architectures_keep_their_vocabulary_with_the_small_tokenizer():
    from vlparse.core.families import get_family
    from vlparse.tools.synthetic import architectures, build_tokenizer, make_config, tiny_arch

    tok = build_tokenizer(get_family("qwen2.5-vl"))
    assert make_config(architectures()["qwen2.5-vl-7b"], tok).text_config.vocab_size == 152064
    assert make_config(tiny_arch(get_family("qwen2.5-vl")), tok).text_config.vocab_size == len(tok)
