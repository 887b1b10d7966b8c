"""RAG chunks: heading-aware, never splitting tables or list items, with provenance and stable ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlparse.core.geometry import Frame
from vlparse.core.results import Block, Document, PageInfo, PageResult
from vlparse.export.chunks import APPROX, approx_tokens, chunk_document

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.pdf"
ANSWERS = ROOT / "examples" / "answers" / "qwen2.5-vl" / "sample-pdf"


def _b(type_, text="", box=(0, 0, 10, 10), **attrs) -> Block:
    return Block(type_, text, "", list(map(float, box)), [v / 2 for v in box], attrs)


def _doc(*pages: list[Block]) -> Document:
    return Document("dir/report.pdf", "qwen2.5-vl", "m",
                    [PageResult(PageInfo("dir/report.pdf", i + 1, Frame(100, 100, 100, 100)), blocks=list(bs))
                     for i, bs in enumerate(pages)])


def test_headings_make_the_path_and_close_chunks():
    doc = _doc([_b("header", "ACME confidential"), _b("heading", "Report", level=1), _b("paragraph", "Intro."),
                _b("heading", "Costs", level=2), _b("paragraph", "Costs rose.", box=(1, 2, 3, 4))],
               [_b("paragraph", "Still costs.", box=(5, 6, 7, 8)), _b("heading", "Outlook", level=2),
                _b("paragraph", "Good."), _b("page_number", "2")])
    chunks = chunk_document(doc, max_tokens=100)
    assert [c.headings for c in chunks] == [["Report"], ["Report", "Costs"], ["Report", "Outlook"]]
    assert [c.text for c in chunks] == ["Intro.", "Costs rose.\n\nStill costs.", "Good."]
    assert chunks[1].pages == [1, 2]  # a section runs on over the page break, each block keeps its page
    assert [(b["page"], b["bbox_px"], b["bbox_pt"]) for b in chunks[1].blocks] == [
        (1, [1, 2, 3, 4], [0.5, 1, 1.5, 2]), (2, [5, 6, 7, 8], [2.5, 3, 3.5, 4])]
    assert all("ACME" not in c.text and c.text != "2" for c in chunks)  # headers and page numbers left out
    assert chunks[0].token_count == APPROX and chunks[0].tokens == approx_tokens("Intro.")


def test_a_table_is_never_split_and_a_long_paragraph_is_split_between_sentences():
    table = "A | B\n" + "\n".join(f"{i} | {i * i}" for i in range(60))
    para = " ".join(f"Sentence number {i} says something." for i in range(40))
    doc = _doc([_b("heading", "T", level=1), _b("paragraph", "Before."), _b("table", table), _b("paragraph", para)])
    chunks = chunk_document(doc, max_tokens=50)
    [tab] = [c for c in chunks if table in c.text]
    assert tab.text == table and tab.oversize and [b["type"] for b in tab.blocks] == ["table"]
    pieces = [c for c in chunks if c.blocks[0]["type"] == "paragraph" and "Sentence" in c.text]
    assert len(pieces) > 2 and all(c.tokens <= 50 and not c.oversize for c in pieces)
    assert " ".join(c.text for c in pieces) == para  # split between sentences, nothing lost
    assert all(c.text.endswith(".") for c in pieces)
    assert chunks[0].text == "Before."  # the table did not swallow its neighbour over the limit


def test_list_items_stay_whole_with_their_own_boxes():
    items = [{"text": f"item {i} " + "word " * 12, "bbox_px": [0, i * 10, 50, i * 10 + 9], "bbox_pt": None}
             for i in range(6)]
    doc = _doc([_b("list", "", items=items)])
    chunks = chunk_document(doc, max_tokens=40)
    assert len(chunks) > 1
    texts = [t for c in chunks for t in c.text.split("\n\n")]
    assert texts == [i["text"].strip() for i in items]
    assert [b["bbox_px"] for c in chunks for b in c.blocks] == [i["bbox_px"] for i in items]
    assert {b["type"] for c in chunks for b in c.blocks} == {"list_item"}


def test_the_models_token_counter_is_used_when_given():
    doc = _doc([_b("paragraph", "one two three four five six")])
    [c] = chunk_document(doc, max_tokens=10, count_tokens=lambda t: len(t.split()), tokenizer_name="tok")
    assert c.tokens == 6 and c.token_count == "tokenizer:tok"
    assert len(chunk_document(doc, max_tokens=3, count_tokens=lambda t: len(t.split()))) == 2


def test_a_tokenizer_object_counts_with_its_encode():
    class Tok:
        name_or_path = "org/tok"

        def encode(self, text, add_special_tokens=True):
            return text.split() + (["<s>"] if add_special_tokens else [])

    doc = _doc([_b("paragraph", "one two three four five six")])
    [c] = chunk_document(doc, max_tokens=10, tokenizer=Tok())
    assert c.tokens == 6 and c.token_count == "tokenizer:org/tok"  # special tokens not counted


def test_ids_are_stable_and_distinct():
    doc = _doc([_b("paragraph", "Same words.", box=(0, 0, 5, 5)), _b("heading", "H"),
                _b("paragraph", "Same words.", box=(0, 50, 5, 55))])
    a, b = chunk_document(doc), chunk_document(doc)
    assert [c.id for c in a] == [c.id for c in b] and len({c.id for c in a}) == 2


def test_doc_chunks_cli_writes_jsonl_with_the_same_ids_on_a_rerun(cli, tmp_path):
    runs = []
    for d in ("one", "two"):
        r = cli("doc", SAMPLE, "--family", "qwen2.5-vl", "--from-output", ANSWERS, "--chunks", "--json", "--chunk-tokens", "60",
                "-o", tmp_path / d)
        assert r.exit_code == 0, r.stderr
        runs.append([json.loads(x) for x in (tmp_path / d / "sample.chunks.jsonl").read_text().splitlines()])
    assert [c["id"] for c in runs[0]] == [c["id"] for c in runs[1]]
    chunks = runs[0]
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert all(c["tokens"] <= 60 or c["oversize"] for c in chunks)
    assert all(c["token_count"] == APPROX for c in chunks)  # recorded answers: no tokenizer
    doc = json.loads((tmp_path / "one" / "sample.json").read_text())
    [table] = [b for b in doc["pages"][0]["blocks"] if b["type"] == "table"]
    [holder] = [c for c in chunks if table["text"] in c["text"]]
    assert {"page": 1, "type": "table", "bbox_px": table["bbox_px"], "bbox_pt": table["bbox_pt"]}.items() <= \
        next(b for b in holder["blocks"] if b["type"] == "table").items()
    assert holder["headings"] == ["Quarterly Report: Third Quarter"]
    from vlparse.api import Document as ApiDocument
    assert ApiDocument.from_dict(doc).chunks(max_tokens=60)[0].id == chunks[0]["id"]


@pytest.mark.slow
def test_a_local_model_counts_with_its_tokenizer(cli, tiny_models, tmp_path):
    from pdfs import make_pdf

    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    r = cli("doc", pdf, "--model", tiny_models["qwen2.5-vl"], "--max-new-tokens", "16", "--max-pixels", "120000",
            "--retries", "0", "--chunks", "-o", tmp_path / "out")
    assert r.exit_code in (0, 1), r.stderr
    lines = (tmp_path / "out" / "a.chunks.jsonl").read_text().splitlines()
    assert lines, "the tiny model's answer (seeded weights) gives a text block, so there is a chunk to count"
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_models["qwen2.5-vl"])
    for c in map(json.loads, lines):
        assert c["token_count"] == f"tokenizer:{tiny_models['qwen2.5-vl']}"
        assert c["tokens"] == len(tok.encode(c["text"], add_special_tokens=False))
