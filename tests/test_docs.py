"""The README's Python examples run as written; the API docs build (mkdocs --strict); the docstrings' examples run."""

import doctest
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vlparse.core.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


#: packages of optional extras a README block may import: where one is missing its block is left out here
OPTIONAL_EXTRAS = {"supervision", "langchain_core", "llama_index", "ocrmypdf", "ray"}


def test_the_readme_python_examples_run(monkeypatch, capsys):
    blocks = python_blocks(README)
    assert len(blocks) >= 3 and any("vlparse.Parser(" in b for b in blocks)
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for block in blocks:  # one namespace, in order, as a reader would paste them
        try:
            exec(compile(block, "README.md", "exec"), namespace)
        except ModuleNotFoundError as e:  # an integration's optional extra (.ci/run installs them all)
            if (e.name or "").split(".")[0] not in OPTIONAL_EXTRAS:
                raise
        except ModelError as e:  # an adapter's one line for its missing extra
            if "pip install 'vlparse[" not in e.message:
                raise
    out = capsys.readouterr().out
    assert "1 heading [56.02, 52.03, 538.98, 92.12] Quarterly Report: Third Quart" in out
    assert "examples/shapes.png red car [110.08, 164.8, 339.84, 324.8]" in out
    assert "examples/sample.pdf <bytes 2> 2" in out
    assert "2274.5 2 [439.97, 159.9, 539.94, 176.13] True ['invoice_date']" in out


@pytest.mark.parametrize("module", ["vlparse.api", "vlparse.core.options", "vlparse"])
def test_the_docstring_examples_run(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_the_api_docs_build(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.skip('mkdocs / mkdocstrings not installed (pip install -e ".[docs]"; .ci/run installs them)')
    p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("parse", "ground", "Parser", "from_output", "InputError"):
        assert name in api, name
