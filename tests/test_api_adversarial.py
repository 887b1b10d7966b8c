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


@pytest.mark.parametrize("option", [dict(max_pixels=0), dict(min_pixels=-5), dict(dpi=0), dict(max_new_tokens=0),
                                    dict(retries=-1), dict(batch_size=0), dict(concurrency=0), dict(timeout=0),
                                    dict(max_pixels="abc"), dict(dpi="high"), dict(retries=True), dict(pages=[1, 2])])
def test_the_library_refuses_the_values_the_cli_refuses(option):
    """The CLI's bounds (``min=`` of the shared options) hold in the library too, as a UsageError naming the option."""
    with pytest.raises(vlparse.UsageError, match=next(iter(option))):
        vlparse.parse(PDF, **DOC, **option)


def test_a_page_number_may_be_an_int():
    assert [p.info.page for p in vlparse.parse(PDF, pages=2, **DOC).pages] == [2]


@pytest.mark.parametrize("pages", ["0", "5-2", "abc", "1,x"])
def test_a_bad_page_selection_is_one_usage_error_before_any_input_opens(pages, cli, tmp_path):
    with pytest.raises(vlparse.UsageError, match="--pages"):
        vlparse.parse(PDF, pages=pages, **DOC)
    with pytest.raises(vlparse.UsageError, match="--pages"):  # not a list of documents that each failed
        vlparse.parse([PDF, SHAPES], pages=pages, **DOC)
    res = cli("doc", PDF, SHAPES, "--pages", pages, "-o", tmp_path, "--family", DOC["family"],
              "--from-output", DOC["from_output"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "--pages" in res.stderr, res.stderr
    assert not list(tmp_path.iterdir())  # the image was not parsed first


@pytest.mark.parametrize("args", [["--dtype", "BF17"], ["--device", "cuda:x"], ["--device", "cuda:-1"],
                                  ["--backend", "tgi"], ["--quant", "3bit"], ["--max-pixels", "0"], ["--bogus"]])
def test_a_bad_option_on_the_command_line_is_one_line_and_exit_2(args, cli):
    res = cli("doc", PDF, *args)
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("vlparse: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert args[0] in res.stderr and "doc --help" in res.stderr


@pytest.mark.parametrize("queries", [None, "", "   ", [""], [1, 2], b"red car", {"red car": 1}])
def test_queries_that_are_no_text_are_a_usage_error(queries):
    with pytest.raises(vlparse.UsageError, match="quer"):
        vlparse.ground(SHAPES, queries, **GROUND)


def test_a_tuple_of_queries_is_fine_and_blank_ones_are_dropped():
    assert vlparse.ground(SHAPES, ("red car", " "), **GROUND).queries == ["red car"]


@pytest.mark.parametrize("cls, data", [
    *[("Document", d) for d in ({}, [], None, "doc.json", {"source": "a.pdf", "pages": [{}]},
                                {"source": "a.pdf", "pages": "none"}, {"source": "a.pdf", "schema_version": "2"},
                                {"source": "a.pdf", "schema_version": 2})],
    *[("GroundResult", d) for d in ([], None, {"images": [{}]}, {"images": [1]}, {"schema_version": 2})]])
def test_from_dict_of_something_else_is_a_typed_error(cls, data):
    with pytest.raises(vlparse.InputError):
        getattr(vlparse, cls).from_dict(data)
    with pytest.raises(ValueError):  # still a ValueError too, for callers that caught that
        getattr(vlparse, cls).from_dict(data)


def test_from_dict_reads_an_older_document_without_a_version():
    data = vlparse.parse(PDF, **DOC).to_dict()
    del data["schema_version"]
    assert vlparse.Document.from_dict(data).to_dict() == {"schema_version": vlparse.SCHEMA_VERSION, **data}


def test_a_blank_query_option_is_no_query_on_the_command_line(cli):
    res = cli("ground", SHAPES, "--query", " ", "--family", GROUND["family"], "--from-output", GROUND["from_output"])
    assert res.exit_code == 2 and "query" in res.stderr and res.stdout == ""


def test_choices_take_any_case_like_device_and_family(cli, tmp_path):
    """``device="CUDA:1"`` and ``family="Qwen2.5-VL"`` were accepted but ``dtype="BF16"`` was not."""
    b = vlparse.BackendOptions(dtype="BF16", quant=" 4BIT", attn="SDPA", backend="OpenAI", device="CPU")
    assert (b.dtype, b.quant, b.attn, b.backend, b.device) == (vlparse.Dtype.BF16, vlparse.Quant.INT4,
                                                               vlparse.Attn.SDPA, vlparse.BackendKind.OPENAI, "cpu")
    assert vlparse.parse(PDF, dtype="FP32", backend="LOCAL", **DOC).ok
    res = cli("doc", PDF, "--dtype", "BF16", "--quant", "NONE", "-o", tmp_path, "--family", DOC["family"],
              "--from-output", DOC["from_output"])
    assert res.exit_code == 0, res.stderr


def test_the_first_calls_from_several_threads_resolve_the_family_once(monkeypatch):
    """Resolving the family imports transformers' config classes: two first calls racing there got ImportError
    ("cannot import name 'AutoConfig'") from transformers' lazy module. The parser resolves it once, under its lock."""
    import threading

    from vlparse.backends import factory

    entered, second = [], threading.Event()
    real = factory.resolve_family

    def resolve(opts):
        entered.append(threading.current_thread().name)
        if len(entered) == 1:
            second.wait(2)  # a second thread gets in here only if nothing serialises the resolution
        else:
            second.set()
        return real(opts)

    monkeypatch.setattr(factory, "resolve_family", resolve)
    parser = vlparse.Parser(**DOC)
    threads = [threading.Thread(target=lambda: parser.family) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(entered) == 1 and parser.family.name == "qwen2.5-vl"


def test_close_waits_for_the_calls_running_in_other_threads(monkeypatch):
    """Closing a parser while another thread's call was generating pulled the model out from under it: its pages
    failed with "'NoneType' object has no attribute 'device'". Close now lets running calls finish first."""
    import threading

    from vlparse.backends import factory
    from vlparse.backends.recorded import RecordedBackend, load_recorded

    started, release, closed = threading.Event(), threading.Event(), []

    class Slow(RecordedBackend):
        def generate(self, requests):
            started.set()
            assert release.wait(60)
            assert not closed, "closed while generating"
            return super().generate(requests)

        def close(self):
            closed.append(self)

    monkeypatch.setattr(factory, "backend_factory",
                        lambda opts, family, *, only_page=None: lambda: Slow(family, load_recorded(DOC["from_output"])))
    parser = vlparse.Parser(model="m", family="qwen2.5-vl")
    result = {}
    call = threading.Thread(target=lambda: result.setdefault("doc", parser.parse(PDF, pages="1")))
    call.start()
    assert started.wait(60)
    closer = threading.Thread(target=parser.close)
    closer.start()
    for _ in range(50):  # the closer is waiting, not closing (no timing asserted: it may not close before release)
        if closed:
            break
        threading.Event().wait(0.01)
    release.set()
    call.join(60)
    closer.join(60)
    assert result["doc"].ok and len(closed) == 1
    with pytest.raises(vlparse.UsageError, match="closed"):
        parser.parse(PDF)


def test_close_from_a_progress_callback_does_not_hang():
    parser = vlparse.Parser(**DOC)
    doc = parser.parse(PDF, progress=lambda done, total, page: parser.close())
    assert doc.ok
    with pytest.raises(vlparse.UsageError, match="closed"):
        parser.parse(PDF)


def test_the_exports_of_an_unreadable_input_say_why():
    """A list with one bad entry gives a Document with ``error``: its Markdown was one empty line, its HTML a page
    with nothing but the file name."""
    _, bad = vlparse.parse([PDF, b"%PDF-1.7 not really"], **DOC)
    assert not bad.ok and bad.error
    assert bad.error in bad.to_markdown() and "failed" in bad.to_markdown()
    assert bad.error in bad.to_html() and 'data-status="failed"' in bad.to_html()


@pytest.mark.parametrize("progress", ["yes", 1, [print]])
def test_a_progress_that_is_neither_a_flag_nor_a_function_is_a_usage_error(progress):
    with pytest.raises(vlparse.UsageError, match="progress"):  # it was ignored: no bar, no error
        vlparse.parse(PDF, progress=progress, **DOC)


def test_none_means_the_default_for_every_option():
    """``concurrency=None`` was kept as None (a TypeError later, in the server backend) while ``device=None`` was
    refused: None now means the default, for every field."""
    from vlparse.core.options import RunOptions

    names = ("backend", "dtype", "quant", "device", "attn", "fast", "concurrency", "timeout", "base_urls")
    assert vlparse.BackendOptions(**dict.fromkeys(names)) == vlparse.BackendOptions()
    assert RunOptions(backend=None, retries=None, inputs=None) == RunOptions()
    assert vlparse.parse(PDF, device=None, dtype=None, concurrency=None, **DOC).ok


def test_an_absurd_pixel_budget_is_a_usage_error_not_gigabytes_of_pixels(cli):
    """min_pixels=10**10 upscaled a 64x64 image to 10 gigapixels (MemoryError out of the API, or the OOM killer);
    max_pixels=10**10 rendered PDF pages until MuPDF gave up, one failed page at a time."""
    family = vlparse.get_family("qwen3-vl")
    for budget in (dict(min_pixels=10**10, max_pixels=10**10), dict(max_pixels=10**10)):
        with pytest.raises(vlparse.UsageError, match="pixel budgets above"):
            vlparse.pixel_budget(family, "ground", **budget)  # checked before anything renders
    with pytest.raises(vlparse.UsageError, match="pixel budgets above"):
        vlparse.parse(PDF, max_pixels=10**10, **DOC)
    res = cli("doc", PDF, "--max-pixels", str(10**10), "--family", DOC["family"], "--from-output", DOC["from_output"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr


@pytest.mark.parametrize("option", [dict(model=123), dict(family=2), dict(base_url=123), dict(base_url=[1]),
                                    dict(from_output=123), dict(password=123), dict(prompt_file=123),
                                    dict(fast="no"), dict(api_key=["k"])])
def test_an_option_of_the_wrong_type_is_a_usage_error(option):
    """model=123 went to the Hub as '123' (AttributeError), from_output=123 and base_url=123 were TypeErrors,
    fast='no' meant True."""
    kw = {**DOC, **option}
    name = "base_urls" if "base_url" in option else next(iter(option))
    with pytest.raises(vlparse.UsageError, match=name):
        vlparse.parse(PDF, **kw)


def test_paths_may_be_path_objects():
    kw = {**DOC, "from_output": Path(DOC["from_output"])}
    assert vlparse.parse(Path(PDF), prompt_file=None, **kw).ok
    assert vlparse.BackendOptions(model=Path("/some/dir")).model == "/some/dir"


def test_no_thread_outlives_a_call_on_a_server(monkeypatch):
    """The server backend's close shut its pool down without waiting: its worker threads were still alive when
    ``vlparse.parse`` had returned."""
    import threading

    from fake_openai_server import FakeOpenAIServer

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    answer = (ANSWERS / "qwen2.5-vl" / "sample-pdf" / "page-1.html").read_text()
    with FakeOpenAIServer(lambda req: answer) as srv:
        for _ in range(3):
            doc = vlparse.parse(PDF, pages="1", backend="openai", base_url=srv.url, family="qwen2.5-vl",
                                concurrency=4)
            assert doc.ok
            assert [t.name for t in threading.enumerate() if t.name.startswith("vlparse")] == []


def test_whole_number_options_are_ints():
    """max_new_tokens=100.0 reached the decode loop as a float: every page failed (torch.full: "type must be tuple
    of ints, but got float")."""
    from vlparse.core.options import RunOptions

    o = RunOptions(max_new_tokens=100.0, max_pixels=2e6, retries=1.0)
    assert (o.max_new_tokens, o.max_pixels, o.retries) == (100, 2_000_000, 1)
    assert all(type(v) is int for v in (o.max_new_tokens, o.max_pixels, o.retries))
    assert type(vlparse.BackendOptions(batch_size=4.0).batch_size) is int
    with pytest.raises(vlparse.UsageError, match="retries"):
        RunOptions(retries=1.5)
