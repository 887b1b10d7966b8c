"""The public API and the shared options used as a hostile user would: wrong types, bad values, misuse.

Each test here guards a bug found by attacking the API (issues 13 and 16); the cases that held are in the report.
"""

import json
from pathlib import Path

import pytest

import vlparse

pytestmark = pytest.mark.adversarial

ROOT = Path(__file__).resolve().parent.parent
PDF = str(ROOT / "examples" / "sample.pdf")
SHAPES = str(ROOT / "examples" / "shapes.png")
ANSWERS = ROOT / "examples" / "answers"
DOC = dict(family="qwen2.5-vl", from_output=str(ANSWERS / "qwen2.5-vl" / "sample-pdf"))
GROUND = dict(family="qwen3-vl", from_output=str(ANSWERS / "qwen3-vl" / "shapes-ground.txt"))


def test_a_document_equals_itself_after_a_round_trip():
    doc = vlparse.parse(PDF, **DOC)
    assert vlparse.Document.from_dict(doc.to_dict()) == doc
    assert vlparse.Document.from_dict(json.loads(doc.to_json())) == doc
    hits = vlparse.ground(PDF, "heading", pages="1", family="qwen2.5-vl",
                          from_output=str(ANSWERS / "qwen2.5-vl" / "sample-pdf" / "page-1.html"))
    assert vlparse.GroundResult.from_dict(json.loads(json.dumps(hits.to_dict()))) == hits
