"""The package's layering rules, checked on the imports (ast) of every module, lazy imports included.

- ``vlparse/core`` (families, geometry, results, options, errors, prompt type) imports only ``vlparse.core`` and the
  standard library, minus the modules that do file or network I/O (``os`` is allowed for environment variables).
  No third-party package at all: no torch, transformers, PyMuPDF, PIL, lxml.
- ``vlparse/parse`` (parsers, sanitiser, repair) imports only ``vlparse.core``, ``vlparse.parse``, the same standard
  library, and the pure text libraries lxml, nh3, json-repair and rapidfuzz, and jsonschema (validation of extracted
  values, no I/O: remote $ref retrieval is off by default). No PIL: the parsers never touch images.
- No library module imports ``vlparse.api``, ``vlparse.cli`` or ``vlparse.commands``: they sit on top.
- The command modules (``commands/``, shipped as ``vlparse.commands``) import only the public surfaces: ``vlparse``
  (the API), ``vlparse.core.options`` (options, choices, defaults), and the packages ``vlparse.run`` and
  ``vlparse.tools`` through the names their ``__init__`` exports, never their modules.
- ``import vlparse`` and ``vlparse --help`` do not import torch or transformers.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IO_STDLIB = {"pathlib", "glob", "shutil", "tempfile", "io", "socket", "ssl", "http", "urllib", "subprocess",
             "multiprocessing", "threading", "sqlite3", "pickle", "zipfile", "tarfile", "logging"}
PURE_TEXT_LIBS = {"lxml", "nh3", "json_repair", "jsonschema", "rapidfuzz"}  # rapidfuzz: string matching (verification)
COMMAND_SURFACES = {"vlparse", "vlparse.core.options", "vlparse.run", "vlparse.tools"}
TOP = {"vlparse.api", "vlparse.cli", "vlparse.commands"}


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names imported from it) for every absolute import of the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import (vlparse uses absolute imports)"
            out.append((node.lineno, node.module or "", [a.name for a in node.names]))
    return out


def _is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(root: Path) -> list[str]:
    """Every import in the tree at ``root`` that breaks a rule, as ``file:line: module (why)``."""
    bad = []
    files = sorted((root / "vlparse").rglob("*.py")) + sorted((root / "commands").glob("*.py"))
    for f in files:
        rel = f.relative_to(root).as_posix()
        layer = rel.split("/")[1] if rel.startswith("vlparse/") else rel  # core, parse, ..., or api.py, cli.py
        for line, module, names in imports(f):
            where = f"{rel}:{line}: {module}"
            ours = _under(module, "vlparse")
            if layer in ("core", "parse"):
                allowed_ours = ("vlparse.core",) if layer == "core" else ("vlparse.core", "vlparse.parse")
                if ours and not any(_under(module, p) for p in allowed_ours):
                    bad.append(f"{where} (the {layer} layer imports only {', '.join(allowed_ours)})")
                elif not ours and _is_stdlib(module) and module.split(".")[0] in IO_STDLIB:
                    bad.append(f"{where} (I/O module in the pure {layer} layer)")
                elif not ours and not _is_stdlib(module) and not (
                        layer == "parse" and module.split(".")[0] in PURE_TEXT_LIBS):
                    bad.append(f"{where} (third-party package in the pure {layer} layer)")
            if rel.startswith("vlparse/") and layer not in ("api.py", "__init__.py", "cli.py", "__main__.py"):
                if any(_under(module, t) for t in TOP):
                    bad.append(f"{where} (the library does not import the API or the CLI above it)")
                if module == "vlparse" and set(names) - {"__version__"}:
                    bad.append(f"{where} (the library does not import the API above it)")
            if rel.startswith("commands/") and ours and not _under(module, "vlparse.commands") \
                    and module not in COMMAND_SURFACES:
                bad.append(f"{where} (commands import only {', '.join(sorted(COMMAND_SURFACES))})")
    return bad


def test_the_layering_rules_hold():
    assert violations(ROOT) == []


def _copy_tree(tmp_path: Path) -> Path:
    import shutil

    for d in ("vlparse", "commands"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_planted_forbidden_import_is_caught(tmp_path):
    root = _copy_tree(tmp_path)
    plants = {
        "vlparse/core/geometry.py": "\ndef _f():\n    import torch\n",  # lazy import in the core
        "vlparse/core/results.py": "\nfrom vlparse.pages.render import open_source\n",
        "vlparse/parse/repair.py": "\nfrom PIL import Image\n",
        "vlparse/parse/schema.py": "\nimport pathlib\n",
        "commands/doc.py": "\ndef _g():\n    from vlparse.run.pipeline import Runner\n",
        "vlparse/run/job.py": "\nfrom vlparse.api import Parser\n",
    }
    for rel, text in plants.items():
        with open(root / rel, "a", encoding="utf-8") as f:
            f.write(text)
    found = violations(root)
    for rel in plants:
        assert any(v.startswith(rel + ":") for v in found), rel
    assert len(found) == len(plants), found


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_import_vlparse_and_help_do_not_import_torch():
    for code in ("import vlparse", "import vlparse; vlparse.Document, vlparse.GroundResult, vlparse.Dtype",
                 "import sys; from vlparse.cli import main; sys.argv = ['vlparse', '--help']; main(['--help'])",
                 "from vlparse.cli import main; main(['doc', '--help'])"):
        loaded = _modules_after(code)
        assert "torch" not in loaded and "transformers" not in loaded, code
