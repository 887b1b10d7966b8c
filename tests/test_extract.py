"""`vlparse extract`: schemas, answers in each family's coordinates, normalising, validation and its retry,
text-layer evidence, multi-page merging, CSV escaping, and the command through every backend."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pymupdf
import pytest

from vlparse.backends.base import Answer, Backend
from vlparse.core.errors import UsageError
from vlparse.core.families import QWEN2_5_VL, QWEN3_VL, get_family
from vlparse.core.geometry import Budget, Frame
from vlparse.core.results import PageInfo, PageResult
from vlparse.parse.extract import SCHEMA_WARNING, assemble, csv_safe, parse_date, parse_extraction, parse_number, \
    schema_from_any, schema_from_fields, schema_from_json
from vlparse.run.extract import records_csv
from vlparse.run.pipeline import RunConfig, Runner
from vlparse.run.tasks import Decoding, Task

ROOT = Path(__file__).resolve().parent.parent
INVOICE_SCHEMA = json.loads((ROOT / "examples" / "invoice.schema.json").read_text())
FRAME = Frame(1000, 1400, 500, 700, 0.5, 0.5)  # original 1000x1400 px, the model saw 500x700, 2 px per point


def _ev(value, box):
    return {"value": value, "bbox_2d": box}


# -- one page's answer ------------------------------------------------------------------------------------


def test_each_family_answers_in_its_own_coordinates():
    schema = schema_from_fields(["invoice number"])
    # Qwen2.5-VL: pixels of the 500x700 image the model saw -> x2 in the 1000x1400 page
    p25 = parse_extraction(json.dumps({"invoice number": _ev("A-1", [50, 70, 100, 80])}), schema, QWEN2_5_VL, FRAME)
    # Qwen3-VL: 0..1000 of the image
    p3 = parse_extraction(json.dumps({"invoice number": _ev("A-1", [100, 100, 200, 120])}), schema, QWEN3_VL, FRAME)
    [d25], [d3] = p25.values, p3.values
    assert d25.bbox == [100, 140, 200, 160] and d25.bbox_pt == [50, 70, 100, 80]
    assert d3.bbox == [100, 140, 200, 168]
    assert d25.label == "invoice number" and d25.extra["value"] == "A-1"


def test_fences_chatter_trailing_commas_and_single_quotes_are_read():
    schema = schema_from_fields(["total:number", "vendor"])
    text = ("Here is the result:\n```json\n{'total': {'value': '1.234,50', 'bbox_2d': [1, 2, 30, 40],},\n"
            " \"vendor\": {\"value\": \"ACME\", \"bbox_2d\": [5, 5, 50, 20],},}\n```\nAnything else?")
    page = parse_extraction(text, schema, QWEN3_VL, FRAME)
    assert {d.label: d.extra["value"] for d in page.values} == {"total": 1234.5, "vendor": "ACME"}
    assert any(w.startswith("repaired invalid JSON") for w in page.warnings)
    assert not page.errors


@pytest.mark.parametrize("raw, value", [
    ("1,234.50", 1234.5), ("1.234,50", 1234.5), ("EUR 2,274.50", 2274.5), ("$ 12", 12), ("(3.00)", -3.0),
    ("12,5", 12.5), ("1 234 567", 1234567), ("-7", -7), ("45.00", 45.0), (99, 99), ("abc", None), ("1.2.3", None),
])
def test_numbers_are_normalised(raw, value):
    assert parse_number(raw) == value


@pytest.mark.parametrize("raw, iso, ambiguous", [
    ("2024-03-05", "2024-03-05", False), ("05/03/2024", "2024-03-05", True), ("13/03/2024", "2024-03-13", False),
    ("March 5, 2024", "2024-03-05", False), ("4 April 2024", "2024-04-04", False), ("31-Jan-2024", "2024-01-31", False),
    ("05.03.24", "2024-03-05", True), ("2024/3/5", "2024-03-05", False),
])
def test_dates_are_normalised_and_ambiguous_ones_flagged(raw, iso, ambiguous):
    d = parse_date(raw)
    assert (d.iso, d.ambiguous) == (iso, ambiguous)


def test_date_order_decides_ambiguous_dates_and_the_value_is_flagged():
    schema = schema_from_fields(["issued:date"])
    answer = json.dumps({"issued": _ev("03/04/2024", [1, 1, 50, 20])})
    dmy = parse_extraction(answer, schema, QWEN3_VL, FRAME, "dmy").values[0].extra
    mdy = parse_extraction(answer, schema, QWEN3_VL, FRAME, "mdy").values[0].extra
    assert (dmy["value"], mdy["value"]) == ("2024-04-03", "2024-03-04")
    assert "ambiguous date" in dmy["flags"][0]


def test_missing_fields_and_line_items():
    schema = schema_from_json(INVOICE_SCHEMA)
    answer = json.dumps({"invoice_number": None, "vendor": "", "line_items": [
        {"description": _ev("Kit", [1, 1, 9, 9]), "quantity": _ev("2", [10, 1, 19, 9]), "amount": None}]})
    page = parse_extraction(answer, schema, QWEN3_VL, FRAME)
    assert [(d.label, d.extra["value"]) for d in page.values] == [("line_items[0].description", "Kit"),
                                                                  ("line_items[0].quantity", 2)]
    assert not page.errors  # absent fields may be on another page: no violation per page
    info = PageInfo("x.png", 1, FRAME)
    rec = assemble("x.png", "qwen3-vl", "m", [PageResult(info, detections=page.values)], schema, lambda p: None)
    assert set(rec["missing"]) == {"invoice_number", "invoice_date", "vendor", "total", "due_date"}
    assert rec["values"]["line_items"] == [{"description": "Kit", "quantity": 2}]
    assert rec["fields"]["line_items"][0]["quantity"]["text_match"] is None  # an image: nothing to check against
    assert not rec["valid"] and any("'invoice_number' is a required property" in e for e in rec["errors"])


def test_a_schema_violation_is_reported_for_the_retry():
    schema = schema_from_json(INVOICE_SCHEMA)
    answer = json.dumps({"total": _ev("about twelve", [1, 1, 9, 9]),
                         "line_items": [{"quantity": _ev("-3", [1, 1, 9, 9])}]})
    page = parse_extraction(answer, schema, QWEN3_VL, FRAME)
    assert any("total" in e and "'about twelve' is not of type 'number'" in e for e in page.errors)
    assert any(e.startswith("line_items[0].quantity") and "minimum" in e for e in page.errors)
    task = Task("extract", QWEN3_VL, None, Decoding(64), schema=schema)
    res = task.parse(answer, "stop", PageInfo("x.png", 1, FRAME))
    fb = task.feedback(res)
    assert res.status == "repaired" and "did not match the schema" in fb and "about twelve" in fb
    assert task.feedback(task.parse(json.dumps({"total": _ev("12", [1, 1, 9, 9])}), "stop", res.info)) is None


def test_schemas_from_fields_json_schema_and_pydantic():
    s = schema_from_fields(["invoice number", "total amount:number", "paid:boolean", "date:date"])
    assert [(f.name, f.type) for f in s.fields] == [("invoice number", "string"), ("total amount", "number"),
                                                    ("paid", "boolean"), ("date", "date")]
    with pytest.raises(UsageError, match="type must be one of"):
        schema_from_fields(["x:money"])
    with pytest.raises(UsageError, match="supported"):
        schema_from_json({"properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}})
    pydantic = pytest.importorskip("pydantic")
    import datetime

    class Item(pydantic.BaseModel):
        description: str
        amount: float

    class Invoice(pydantic.BaseModel):
        number: str
        issued: datetime.date | None = None
        items: list[Item] = []

    p = schema_from_any(Invoice)
    assert [(f.name, f.type) for f in p.fields] == [("number", "string"), ("issued", "date"), ("items", "array")]
    assert [(c.name, c.type) for c in p.fields[2].columns] == [("description", "string"), ("amount", "number")]
    assert p.required == ("number",)


# -- the retry with the validation errors given back ---------------------------------------------------------


class _Scripted(Backend):
    name = "scripted"

    def __init__(self, answer):
        self.family, self.answer, self.batch_size, self.prompts = QWEN3_VL, answer, 4, []

    def generate(self, requests):
        self.prompts += [r.prompt.user for r in requests]
        return [Answer(r.key, self.answer(r)) for r in requests]


def _extract_task(schema, family=QWEN3_VL):
    from vlparse.run.prompts import fill_schema, load_prompt

    prompt = fill_schema(load_prompt(family, "extract"), json.dumps(schema.template()), schema.describe())
    return Task("extract", family, prompt, Decoding(256), schema=schema)


def test_a_violation_is_asked_again_once_with_the_errors_and_the_valid_attempt_is_kept(tmp_path):
    from pdfs import make_pdf

    schema = schema_from_fields(["total:number"])
    bad, good = json.dumps({"total": _ev("n/a", [1, 1, 9, 9])}), json.dumps({"total": _ev("12.50", [1, 1, 9, 9])})
    backend = _Scripted(lambda r: good if "did not match the schema" in r.prompt.user else bad)
    cfg = RunConfig(task=_extract_task(schema), budget=Budget(QWEN3_VL.default_min_pixels(), 200_000), retries=1)
    summary = Runner(cfg, lambda: backend).run([str(make_pdf(tmp_path / "a.pdf", pages=1))])
    [res] = summary.documents[0].results.values()
    assert len(backend.prompts) == 2 and "total: 'n/a' is not of type 'number'" in backend.prompts[1]
    assert "relative coordinates from 0 to 1000" in backend.prompts[0]
    assert res.detections[0].extra["value"] == 12.5 and [a["status"] for a in res.attempts] == ["repaired", "ok"]
    # a model that keeps violating is asked again only once; its answer is kept, with the violation on record
    stubborn = _Scripted(lambda r: bad)
    summary = Runner(RunConfig(task=cfg.task, budget=cfg.budget, retries=3), lambda: stubborn).run(
        [str(make_pdf(tmp_path / "b.pdf", pages=1))])
    [res] = summary.documents[0].results.values()
    assert len(stubborn.prompts) == 2 and any(w.startswith(SCHEMA_WARNING) for w in res.warnings)
    # --retries 0: no second request
    once = _Scripted(lambda r: bad)
    Runner(RunConfig(task=cfg.task, budget=cfg.budget, retries=0), lambda: once).run([str(make_pdf(tmp_path / "c.pdf", 1))])
    assert len(once.prompts) == 1


# -- evidence under the boxes, pages merged --------------------------------------------------------------------


def _make_doc(path: Path, pages: list[list[tuple[str, tuple[float, float]]]], rotate: dict[int, int] | None = None):
    doc = pymupdf.open()
    for i, items in enumerate(pages, 1):
        page = doc.new_page(width=595, height=842)
        for text, xy in items:
            page.insert_text(xy, text, fontsize=11)
        if rotate and i in rotate:
            page.set_rotation(rotate[i])
    doc.save(str(path))
    return path


def _rect(path: Path, page: int, text: str) -> list[float]:
    with pymupdf.open(str(path)) as doc:
        p = doc[page - 1]
        r = p.search_for(text)[0] * p.rotation_matrix
        r.normalize()
        return [r.x0, r.y0, r.x1, r.y1]


def _rel1000(path: Path, page: int, rect_pt: list[float]) -> list[int]:
    with pymupdf.open(str(path)) as doc:
        w, h = doc[page - 1].rect.width, doc[page - 1].rect.height
    return [round(rect_pt[0] / w * 1000), round(rect_pt[1] / h * 1000), round(rect_pt[2] / w * 1000),
            round(rect_pt[3] / h * 1000)]


def _answers(path: Path, tmp: Path, pages: dict[int, dict]) -> Path:
    out = tmp / "answers.jsonl"
    out.write_text("".join(json.dumps({"page": n, "output": "```json\n" + json.dumps(obj) + "\n```"}) + "\n"
                           for n, obj in pages.items()))
    return out


def test_field_on_page_2_of_3_with_mismatches_flagged_and_conflicts(tmp_path, cli):
    pdf = _make_doc(tmp_path / "inv.pdf", [
        [("Invoice INV-7", (72, 100)), ("Subtotal 80.00", (72, 140))],
        [("Total 1,234.50", (72, 100)), ("Issued 4 April 2024", (72, 140))],
        [("Total 999.00", (72, 100)), ("Thank you", (72, 140))],
    ], rotate={2: 90})
    inv = _rel1000(pdf, 1, _rect(pdf, 1, "INV-7"))
    answers = _answers(pdf, tmp_path, {
        1: {"invoice": _ev("INV-7", inv),
            "total": _ev("80.00", inv),  # the box holds "INV-7", not 80.00: flagged, not trusted
            "issued": None},
        2: {"invoice": None, "total": _ev("1234.5", _rel1000(pdf, 2, _rect(pdf, 2, "1,234.50"))),
            "issued": _ev("2024-04-04", _rel1000(pdf, 2, _rect(pdf, 2, "4 April 2024")))},
        3: {"invoice": _ev("INV-8", _rel1000(pdf, 3, _rect(pdf, 3, "Thank you"))),  # box holds other text
            "total": _ev("999", _rel1000(pdf, 3, _rect(pdf, 3, "999.00"))), "issued": None},
    })
    res = cli("extract", pdf, "--field", "invoice", "--field", "total:number", "--field", "issued:date",
              "--family", "qwen3-vl", "--from-output", answers)
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["values"] == {"invoice": "INV-7", "total": 1234.5, "issued": "2024-04-04"}
    total = rec["fields"]["total"]
    # page 1's "total" matches nothing under its box; page 2 (rotated 90 degrees) is the earliest match
    assert (total["page"], total["text_match"], total["evidence_text"]) == (2, True, "1,234.50")
    assert total["bbox_pt"] == pytest.approx(_rect(pdf, 2, "1,234.50"), abs=1.5)
    assert rec["fields"]["issued"]["page"] == 2 and rec["fields"]["issued"]["text_match"] is True
    conflicts = {(c["field"], c["page"]): c for c in rec["conflicts"]}
    assert set(conflicts) == {("total", 1), ("total", 3), ("invoice", 3)}
    assert conflicts[("total", 1)]["text_match"] is False and conflicts[("total", 3)]["text_match"] is True
    assert conflicts[("invoice", 3)]["flags"] == ["the text under the box does not match the value"]
    assert rec["flagged"] == [] and rec["valid"] and rec["missing"] == []


def test_a_value_whose_box_holds_other_text_is_flagged_not_trusted(tmp_path, cli):
    pdf = _make_doc(tmp_path / "one.pdf", [[("Invoice INV-7", (72, 100)), ("Due 12.00", (72, 140))]])
    answers = _answers(pdf, tmp_path, {1: {"total": _ev("99.00", _rel1000(pdf, 1, _rect(pdf, 1, "Due 12.00")))}})
    res = cli("extract", pdf, "--field", "total:number", "--family", "qwen3-vl", "--from-output", answers,
              "--jsonl")
    assert res.exit_code == 0, res.stderr
    [line] = res.stdout.splitlines()  # --jsonl: one compact line per document
    rec = json.loads(line)
    assert rec["fields"]["total"]["value"] == 99.0 and rec["fields"]["total"]["text_match"] is False
    assert rec["fields"]["total"]["evidence_text"] == "Due 12.00" and rec["flagged"] == ["total"]



def test_an_invisible_ocr_layer_is_no_witness(tmp_path, cli):
    """A scan's invisible OCR text (render mode 3) is what another OCR engine read, not the page's own text:
    a value under it is unchecked (text_match None), neither confirmed nor flagged."""
    pdf = _make_doc(tmp_path / "scan.pdf", [[("Invoice INV-7", (72, 100))]])
    box = _rel1000(pdf, 1, _rect(pdf, 1, "Invoice INV-7"))
    doc = pymupdf.open(str(pdf))
    page = doc.new_page(width=595, height=842)  # page 2: the same words, only as an invisible layer
    page.insert_text((72, 100), "Due 12.00", fontsize=11, render_mode=3)
    doc.saveIncr()
    doc.close()
    answers = _answers(pdf, tmp_path, {2: {"total": _ev("99.00", box)}})
    res = cli("extract", pdf, "--field", "total:number", "--family", "qwen3-vl", "--from-output", answers,
              "--pages", "2", "--jsonl")
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout.splitlines()[0])
    assert rec["fields"]["total"]["value"] == 99.0 and rec["fields"]["total"]["text_match"] is None
    assert rec["flagged"] == []

# -- CSV -----------------------------------------------------------------------------------------------------


def test_csv_is_rfc4180_and_guarded_against_formula_injection():
    schema = schema_from_fields(["name", "note", "amount:number"])
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+SUM(1,2)", "-2+3", "@cmd", "\tTAB", "\rCR", 'a "quoted", text\nline']
    records = []
    for i, e in enumerate(evil):
        fields = {"name": {"value": e, "page": 1, "text_match": True}, "note": None,
                  "amount": {"value": -12.5, "page": 1, "text_match": None}}
        records.append({"source": f"doc{i}.pdf", "status": "ok", "valid": True, "fields": fields, "flagged": [],
                        "conflicts": [], "errors": []})
    text = records_csv(records, schema)
    assert text.endswith("\r\n") and text.count("\r\n") >= len(evil) + 1
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:6] == ["source", "status", "valid", "name", "name.page", "name.text_match"]
    names = [r[3] for r in rows[1:]]
    assert names[:6] == ["'" + e for e in evil[:6]]
    assert names[6] == evil[6]  # commas, quotes and newlines survive the round trip
    assert {r[rows[0].index("amount")] for r in rows[1:]} == {"-12.5"}  # a number vlparse wrote stays a number
    assert csv_safe("=1") == "'=1" and csv_safe(None) == "" and csv_safe(True) == "true"


# -- the command ---------------------------------------------------------------------------------------------


def test_families_without_json_grounding_and_bad_schemas_exit_2_with_one_line(tmp_path, cli):
    pdf = _make_doc(tmp_path / "a.pdf", [[("x", (72, 100))]])
    res = cli("extract", pdf, "--field", "x", "--family", "qwen2-vl", "--from-output", tmp_path / "none.txt")
    assert res.exit_code == 2 and "extract needs a Qwen2.5-VL or Qwen3-VL model" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    (tmp_path / "bad.json").write_text("{not json")
    res = cli("extract", pdf, "--schema", tmp_path / "bad.json", "--family", "qwen3-vl")
    assert res.exit_code == 2 and "--schema" in res.stderr and "Traceback" not in res.stderr
    res = cli("extract", pdf, "--family", "qwen3-vl", "--from-output", tmp_path / "none.txt")
    assert res.exit_code == 2 and "give a schema" in res.stderr


def test_batch_with_csv_review_overlays_manifest_and_resume(tmp_path, cli):
    inv = ROOT / "examples" / "invoice.pdf"
    answers = ROOT / "examples" / "answers" / "qwen2.5-vl" / "invoice-extract.jsonl"
    out = tmp_path / "out"
    args = ["extract", inv, "--schema", ROOT / "examples" / "invoice.schema.json", "--family", "qwen2.5-vl",
            "--from-output", answers, "-o", out, "--csv", out / "invoices.csv", "--review", "--overlay", out]
    res = cli(*args)
    assert res.exit_code == 0, res.stderr
    rec = json.loads((out / "invoice.json").read_text())
    assert rec["values"]["total"] == 2274.5 and rec["fields"]["total"]["page"] == 2
    assert len(rec["values"]["line_items"]) == 3 and rec["flagged"] == ["invoice_date"]
    rows = list(csv.DictReader(io.StringIO((out / "invoices.csv").read_text(), newline="")))
    assert rows[0]["total"] == "2274.5" and rows[0]["invoice_number"] == "INV-2024-0042"
    review = (out / "invoice.review.html").read_text()
    assert 'data-type="total"' in review and "Fields</h2>" in review and "<script" not in review
    assert (out / "invoice-p1.overlay.png").exists() and (out / "invoice-p2.overlay.png").exists()
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3
    res = cli(*args)
    assert res.exit_code == 0 and "3 already done" in res.stderr
    assert json.loads((out / "invoice.json").read_text())["values"] == rec["values"]


def test_through_the_openai_server_with_a_retry(tmp_path, cli):
    from fake_openai_server import FakeOpenAIServer

    pdf = _make_doc(tmp_path / "a.pdf", [[("Total 12.50", (72, 100))]])
    box = _rel1000(pdf, 1, _rect(pdf, 1, "12.50"))
    bad = json.dumps({"total": _ev("twelve-ish", box)})
    good = "```json\n" + json.dumps({"total": _ev("12.50", box)}) + "\n```"
    with FakeOpenAIServer(lambda req: good if "did not match the schema" in req.user else bad,
                          models=("Qwen/Qwen3-VL-8B-Instruct",)) as srv:
        res = cli("extract", pdf, "--field", "total:number", "--backend", "openai", "--base-url", srv.url)
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["family"] == "qwen3-vl" and rec["fields"]["total"]["value"] == 12.5
    assert rec["fields"]["total"]["text_match"] is True
    assert len(srv.chat_requests) == 2 and "twelve-ish" in srv.chat_requests[1].user


def test_library_function(tmp_path):
    import vlparse

    inv = ROOT / "examples" / "invoice.pdf"
    rec = vlparse.extract(str(inv), INVOICE_SCHEMA, family="qwen3-vl", date_order="mdy",
                          from_output=ROOT / "examples" / "answers" / "qwen3-vl" / "invoice-extract.jsonl")
    assert rec["values"]["invoice_number"] == "INV-2024-0042" and rec["fields"]["vendor"]["text_match"] is True
    assert rec["values"]["invoice_date"] == "2024-05-03"  # 05/03/2024 read month first
    with vlparse.Parser(family="qwen3-vl", from_output=ROOT / "examples" / "answers" / "qwen3-vl" /
                        "invoice-extract.jsonl") as parser:
        recs = parser.extract([str(inv), str(tmp_path / "missing.pdf")], ["vendor", "total:number"], pages="2")
    assert recs[0]["values"] == {"vendor": None, "total": 2274.5} and recs[0]["missing"] == ["vendor"]
    assert recs[1]["error"] and recs[1]["source"].endswith("missing.pdf")
    with pytest.raises(vlparse.UsageError, match="Qwen2.5-VL or Qwen3-VL"):
        vlparse.extract(str(inv), ["x"], family="qwen2-vl", from_output=str(tmp_path / "a.txt"))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_tiny_checkpoints_end_to_end(tmp_path, cli, tiny_models, family):
    pdf = _make_doc(tmp_path / "a.pdf", [[("Total 12.50", (72, 100))], [("Nothing", (72, 100))]])
    res = cli("extract", pdf, "--field", "total:number", "--model", tiny_models[family], "--max-new-tokens", "16",
              "--max-pixels", "120000", "--retries", "0", "-o", tmp_path / "out")
    # random weights write no JSON: each page is recorded as failed, the run goes on and says so with exit 1
    assert res.exit_code in (0, 1), res.stderr
    rec = json.loads((tmp_path / "out" / "a.json").read_text())
    assert rec["family"] == family and [p["page"] for p in rec["pages"]] == [1, 2]
    assert rec["model"] == str(tiny_models[family])
    failed = [p for p in rec["pages"] if p["status"] == "failed"]
    assert res.exit_code == (1 if failed else 0)
    assert len((tmp_path / "out" / "manifest.jsonl").read_text().splitlines()) == 2
    assert get_family(family).grounding == "json"


def test_an_empty_answer_is_a_page_without_values_and_prose_is_a_failed_page():
    schema = schema_from_fields(["total:number"])
    task = Task("extract", QWEN3_VL, None, Decoding(64), schema=schema)
    info = PageInfo("x.png", 1, FRAME)
    for empty in ("```json\n[]\n```", "{}", '{"total": null}'):
        res = task.parse(empty, "stop", info)
        assert (res.status, res.detections) == ("ok", []), empty
    res = task.parse("I cannot find a total on this page.", "stop", info)
    assert res.status == "failed" and "no JSON object" in res.error
    assert task.parse('{"total": {"value": "12", "bbox_2d": [1, 1, 9, 9]}', "length", info).status == "truncated"


def test_real_cookbook_answers_values_without_boxes_are_kept_and_flagged(tmp_path, cli):
    """Qwen2.5-VL's own KIE answers (tests/data/extract/README.md): fenced JSON after a sentence, no boxes."""
    from vlparse.parse.extract import text_matches

    data = Path(__file__).parent / "data" / "extract"
    img = tmp_path / "receipt.png"
    from PIL import Image

    Image.new("RGB", (300, 500), "white").save(img)
    res = cli("extract", img, "--field", "company", "--field", "date:date", "--field", "address",
              "--field", "total:number", "--family", "qwen2.5-vl", "--from-output",
              data / "qwen2.5-vl-cookbook-receipt.txt")
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["values"] == {"company": "UNIHAKKA INTERNATIONAL SDN BHD", "date": "2018-06-01",
                             "address": "12, Jalan Tampoi 7/4,Kawasan Perindustrian Tampoi,81200 Johor Bahru,Johor",
                             "total": 8.75}
    assert rec["fields"]["total"]["raw"] == "RM8.75" and rec["fields"]["total"]["bbox_px"] is None
    assert set(rec["flagged"]) == {"company", "date", "address", "total"}
    assert "no box" in rec["fields"]["date"]["flags"][0] and rec["pages"][0]["status"] == "repaired"
    # the ticket: "8.00<全>" is not a number, a real schema violation the retry would give back
    ticket = (data / "qwen2.5-vl-cookbook-ticket.txt").read_text()
    schema = schema_from_fields(["发票号码", "乘车日期:date", "票价:number"])
    page = parse_extraction(ticket, schema, QWEN2_5_VL, FRAME)
    assert {d.label: d.extra["value"] for d in page.values} == {"发票号码": "10283819", "乘车日期": "2013-06-29",
                                                                "票价": "8.00<全>"}
    assert page.errors == ["票价: '8.00<全>' is not of type 'number'"]
    assert text_matches(8.75, "number", "TOTAL RM 8.75")
