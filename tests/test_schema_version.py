"""Every JSON vlparse writes carries core.results.SCHEMA_VERSION."""

import json
from pathlib import Path

from vlparse.cli import main
from vlparse.core.results import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
PDF = str(ROOT / "examples" / "sample.pdf")
RECORDED = ["--family", "qwen2.5-vl", "--from-output", str(ROOT / "examples/answers/qwen2.5-vl/sample-pdf")]


def _lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def test_every_json_output_carries_the_schema_version(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["doc", PDF, *RECORDED, "--json", "--raw", "--jsonl", "-o", str(out), "-q"]) == 0
    records = {
        "document JSON": [json.loads((out / "sample.json").read_text())],
        "--jsonl lines": _lines(capsys.readouterr().out),
        "--raw lines": _lines((out / "sample.raw.jsonl").read_text()),
        "manifest lines": _lines((out / "manifest.jsonl").read_text()),
        "page records": [json.loads(p.read_text()) for p in (out / ".vlparse").rglob("page-*.json")],
    }
    assert main(["ground", str(ROOT / "examples/shapes.png"), "red car", "--json", "--family", "qwen3-vl",
                 "--from-output", str(ROOT / "examples/answers/qwen3-vl/shapes-ground.txt")]) == 0
    records["ground lines"] = _lines(capsys.readouterr().out)
    assert main(["render", PDF, "-o", str(tmp_path / "pages"), "--pages", "1", "-q"]) == 0
    records["render sidecars"] = [json.loads(p.read_text()) for p in (tmp_path / "pages").rglob("page-*.json")]
    for what, items in records.items():
        assert items, what
        assert all(x.get("schema_version") == SCHEMA_VERSION for x in items), what
