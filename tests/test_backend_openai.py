"""The server backend against a real HTTP server on 127.0.0.1 (tests/fake_openai_server.py).

What is checked: requests carry the page at exactly its native size and pixels, the family prompt and the
decoding setup; the concurrency limit holds per server; several servers share the work; injected faults
(500s, 429s, hangs, dropped connections) lose no page and duplicate none; start-up problems are one clear
line with exit code 5; the API key never reaches the output.
"""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, Fault, Gate, Reply, pixel_hash
from pdfs import make_pdf
from PIL import Image

from vlparse.backends import openai as openai_mod
from vlparse.backends.base import Request
from vlparse.core.prompt import Prompt
from vlparse.backends.openai import (
    OpenAIBackend,
    normalise_base_url,
    retry_delay,
    served_models,
)
from vlparse.core.errors import EXIT_BACKEND, BackendError, UsageError
from vlparse.core.families import get_family

QWEN25 = get_family("qwen2.5-vl")
QWEN3 = get_family("qwen3-vl")
PROMPT = Prompt("You are a document parser.", "QwenVL HTML")


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    """Tiny backoff so retried requests do not slow the suite; no proxy between us and 127.0.0.1."""
    monkeypatch.setattr(openai_mod, "BACKOFF", 0.01)
    monkeypatch.setattr(openai_mod, "MAX_BACKOFF", 0.05)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with FakeOpenAIServer(lambda req: f"answer for {req.image_hash}") as srv:
        yield srv


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    """An RGB image whose every pixel matters (a lossy or resized upload would change its hash)."""
    rnd = random.Random(seed)
    return Image.frombytes("RGB", (w, h), bytes(rnd.getrandbits(8) for _ in range(w * h * 3)))


def requests_for(n: int, family=QWEN25, size=(56, 84)) -> list[Request]:
    return [Request(f"doc.pdf#{i + 1}", noise(*size, seed=i), PROMPT, 4096, 0.0, 1.0,
                    family.default_min_pixels(), family.default_max_pixels("doc")) for i in range(n)]


def backend(urls, family=QWEN25, **kw) -> OpenAIBackend:
    kw.setdefault("concurrency", 2)
    kw.setdefault("timeout", 5.0)
    return OpenAIBackend(family, urls if isinstance(urls, list) else [urls], kw.pop("api_model", None),
                         kw.pop("api_key", None), **kw)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- what a request carries ---------------------------------------------------------------------------
def test_request_carries_native_image_prompt_and_decoding(server):
    server.api_key = "sk-test"
    image = noise(364, 532, seed=7)  # on Qwen2.5-VL's 28-pixel grid
    req = Request("a.pdf#1", image, PROMPT, 1234, 0.3, 1.05, 3136, 2_195_200)
    with backend(server.url, api_key="sk-test") as b:
        assert b.model_name == "Qwen/Qwen2.5-VL-7B-Instruct"  # the only served model
        [ans] = b.generate([req])
    [got] = server.chat_requests
    assert got.image_size == (364, 532) and got.image_format == "png"
    assert got.image_hash == pixel_hash(image)  # lossless: the very pixels vlparse rendered
    assert (got.system, got.user) == (PROMPT.system, PROMPT.user)
    assert got.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert got.authorization == "Bearer sk-test"
    p = got.params
    assert p["max_tokens"] == 1234 and p["temperature"] == 0.3 and p["repetition_penalty"] == 1.05
    assert p["top_p"] == 0.95 and p["skip_special_tokens"] is False and p["stream"] is False
    assert p["mm_processor_kwargs"] == {"min_pixels": 3136, "max_pixels": 2_195_200}
    assert (ans.key, ans.text, ans.finish_reason) == ("a.pdf#1", f"answer for {pixel_hash(image)}", "stop")
    assert ans.meta["server"] == server.url


def test_greedy_requests_send_no_sampling_knobs(server):
    with backend(server.url) as b:
        b.generate(requests_for(1))
    params = server.chat_requests[0].params
    assert params["temperature"] == 0.0 and params["repetition_penalty"] == 1.0
    assert "top_p" not in params and "top_k" not in params


def test_finish_reason_length_and_end_tokens_are_mapped():
    replies = iter([Reply("<html>cut", "length", 7), Reply("<|box_start|>(1,2),(3,4)<|box_end|><|im_end|>")])
    with FakeOpenAIServer(lambda req: next(replies)) as srv, backend(srv.url, concurrency=1) as b:
        first, second = b.generate(requests_for(2))
    assert (first.finish_reason, first.truncated, first.new_tokens) == ("length", True, 7)
    assert second.text == "<|box_start|>(1,2),(3,4)<|box_end|>" and second.finish_reason == "stop"


def test_max_tokens_fits_the_servers_context():
    with FakeOpenAIServer(max_model_len=4096) as srv, backend(srv.url) as b:
        [req] = requests_for(1, size=(280, 280))  # 100 visual tokens
        [ans] = b.generate([Request(req.key, req.image, PROMPT, 8192, 0.0, 1.0, 3136, 2_195_200)])
    sent = srv.chat_requests[0].params["max_tokens"]
    assert 4096 - 100 - 200 <= sent < 4096 - 100
    assert ans.meta["max_tokens"] == sent


def test_a_page_larger_than_the_context_fails_alone_with_a_hint():
    with FakeOpenAIServer(max_model_len=256) as srv, backend(srv.url) as b:
        [ans] = b.generate(requests_for(1, size=(560, 560)))  # 400 visual tokens
    assert ans.finish_reason == "error" and "--max-model-len" in ans.error
    assert srv.chat_requests == []


# -- concurrency and several servers -----------------------------------------------------------------
def test_in_flight_requests_never_exceed_concurrency_and_reach_it():
    with FakeOpenAIServer(lambda req: req.image_hash, gate=3) as srv, backend(srv.url, concurrency=3) as b:
        reqs = requests_for(9)
        answers = b.generate(reqs)
    assert srv.max_in_flight == 3  # the gate holds each request until 3 are in flight together
    assert [a.key for a in answers] == [r.key for r in reqs]  # one answer per request, in order
    assert [a.text for a in answers] == [pixel_hash(r.image) for r in reqs]


def test_several_servers_share_the_work():
    gate = Gate(4)  # shared: groups of 4 requests in flight across both servers, at most 2 on each
    with FakeOpenAIServer(lambda req: req.image_hash, gate=gate) as s1, \
            FakeOpenAIServer(lambda req: req.image_hash, gate=gate) as s2, \
            backend([s1.url, s2.url], concurrency=2) as b:
        assert b.batch_size == 2 * 2
        reqs = requests_for(8)
        answers = b.generate(reqs)
    assert s1.max_in_flight == 2 and s2.max_in_flight == 2
    assert len(s1.chat_requests) == 4 and len(s2.chat_requests) == 4
    assert [a.text for a in answers] == [pixel_hash(r.image) for r in reqs]
    assert sorted(r.image_hash for r in s1.chat_requests + s2.chat_requests) == sorted(a.text for a in answers)


def test_an_unreachable_server_among_several_is_skipped_with_a_warning(server, capsys):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with backend([dead, server.url]) as b:
        assert [s.url for s in b.servers] == [server.url]
        answers = b.generate(requests_for(3))
    assert all(a.finish_reason == "stop" for a in answers)
    assert f"cannot reach the server at {dead}" in capsys.readouterr().err


# -- faults: retried, nothing lost, nothing duplicated ---------------------------------------------------
def test_injected_faults_are_retried_without_losing_or_duplicating_pages(server):
    server.inject("500", "429", "drop", "hang", "502", "503")
    reqs = requests_for(6)
    with backend(server.url, timeout=0.5, concurrency=2, retries=6) as b:
        answers = b.generate(reqs)
    assert [a.key for a in answers] == [r.key for r in reqs]
    assert all(a.finish_reason == "stop" for a in answers)
    assert [a.text for a in answers] == [f"answer for {pixel_hash(r.image)}" for r in reqs]
    answered = [r.image_hash for r in server.answered()]
    assert sorted(answered) == sorted(pixel_hash(r.image) for r in reqs)  # each page answered exactly once
    assert len(server.chat_requests) == 6 + 6  # every fault cost exactly one extra call


def test_retry_after_is_honoured(monkeypatch, server):
    waits = []
    monkeypatch.setattr(openai_mod, "MAX_BACKOFF", 30.0)
    server.inject(Fault("429", retry_after=0.2))
    with backend(server.url) as b:
        real_wait = b._stop.wait
        monkeypatch.setattr(b._stop, "wait", lambda t=None: waits.append(t) or real_wait(0))
        [ans] = b.generate(requests_for(1))
    assert ans.finish_reason == "stop" and waits == [0.2]


def test_spent_retries_fail_that_page_only(server):
    server.inject("500", "500", "500")  # the first page's three attempts
    with backend(server.url, concurrency=1, retries=2) as b:
        first, second = b.generate(requests_for(2))
    assert first.finish_reason == "error" and "after 3 attempts" in first.error and "HTTP 500" in first.error
    assert second.finish_reason == "stop"


def test_a_refused_request_is_not_retried(server):
    server.inject(Fault("400", body="This model's maximum context length is 4096 tokens."))
    with backend(server.url, concurrency=1) as b:
        first, second = b.generate(requests_for(2))
    assert first.finish_reason == "error"
    assert first.error == "the server refused the request (HTTP 400): This model's maximum context length is 4096 tokens."
    assert second.finish_reason == "stop"
    assert len(server.chat_requests) == 2


def test_a_rejected_key_mid_run_dooms_the_run(server):
    server.inject("401")
    with backend(server.url) as b, pytest.raises(BackendError, match="refused the request \\(HTTP 401\\)"):
        b.generate(requests_for(1))


def test_closing_the_backend_aborts_requests_in_flight_at_once(server):
    """An interrupted run (Ctrl-C) closes the sockets: no thread keeps waiting for a long generation."""
    import threading

    server.hang_seconds = 120
    server.inject("hang", "hang")
    b = backend(server.url, timeout=120)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_raises(b.generate, requests_for(2))))
    worker.start()
    while len(server.chat_requests) < 2:  # both requests are at the server, which says nothing
        worker.join(0.01)
    b.close()
    worker.join(30)  # far below the 120 s the requests would otherwise wait
    assert not worker.is_alive()
    assert isinstance(outcome[0], BackendError) and "stopped" in outcome[0].message


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return e
    return None


@pytest.mark.parametrize("family,fmt", [(QWEN3, "png"), (QWEN25, "webp")])
def test_other_families_and_lossless_webp_keep_the_pixels(family, fmt, server):
    server.models = (family.example_model,)
    [req] = requests_for(1, family=family, size=(256, 288))  # Qwen3-VL: 32-pixel grid
    with backend(server.url, family=family, image_format=fmt) as b:
        [ans] = b.generate([req])
    [got] = server.chat_requests
    assert ans.finish_reason == "stop" and got.image_format == fmt
    assert got.image_size == (256, 288) and got.image_hash == pixel_hash(req.image)
    assert got.params["mm_processor_kwargs"] == {"min_pixels": family.default_min_pixels(),
                                                 "max_pixels": family.default_max_pixels("doc")}


def test_qwen_vl_fixed_size_sends_no_pixel_budget(server):
    fam = get_family("qwen-vl")
    with backend(server.url, family=fam) as b:
        b.generate([Request("a.png#1", noise(448, 448), PROMPT, 512, 0.0, 1.0, 448 * 448, 448 * 448)])
    assert "mm_processor_kwargs" not in server.chat_requests[0].params


# -- start-up checks -------------------------------------------------------------------------------------
def test_unreachable_server_is_one_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError) as e:
        backend(url)
    assert e.value.message == f"cannot reach the server at {url}: connection refused"
    assert e.value.exit_code == EXIT_BACKEND


def test_unknown_model_lists_the_served_ones(server):
    server.models = ("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct")
    with pytest.raises(BackendError, match=r"does not serve the model 'qwen-9' \(it serves: Qwen/Qwen2.5-VL-7B-"
                                           r"Instruct, Qwen/Qwen2.5-VL-72B-Instruct\)"):
        backend(server.url, api_model="qwen-9")
    with pytest.raises(BackendError, match="serves several models .*--api-model"):
        backend(server.url)
    assert backend(server.url, api_model="Qwen/Qwen2.5-VL-72B-Instruct").model_name == "Qwen/Qwen2.5-VL-72B-Instruct"


def test_served_models_lists_the_names(server):
    server.models = ("a", "Qwen/Qwen3-VL-8B-Instruct")
    assert served_models(server.url.removesuffix("/v1")) == ["a", "Qwen/Qwen3-VL-8B-Instruct"]


def test_missing_or_wrong_key_and_wrong_path_are_clear(server):
    server.api_key = "right"
    with pytest.raises(BackendError, match="HTTP 401.*give the key with --api-key"):
        backend(server.url)
    with pytest.raises(BackendError, match="HTTP 401.*check --api-key"):
        backend(server.url, api_key="wrong")
    with pytest.raises(BackendError, match="not an OpenAI-compatible API.*ends in /v1"):
        backend(server.url.replace("/v1", "/api"), api_key="right")


def test_a_family_mismatch_is_warned(server, capsys):
    server.models = ("Qwen/Qwen3-VL-8B-Instruct",)
    backend(server.url, family=QWEN25)
    assert "looks like Qwen3-VL" in capsys.readouterr().err


def test_base_urls_are_normalised_and_checked():
    assert normalise_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalise_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert normalise_base_url("https://gw.example/openai/v1") == "https://gw.example/openai/v1"
    for bad in ("h:8000", "ftp://h/v1", "http://user:pw@h/v1", "http://h:99999/v1"):
        with pytest.raises(UsageError):
            normalise_base_url(bad)


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(1)
    delays = [retry_delay(k, 1.0, 10.0, rng=rng) for k in range(1, 7)]
    for k, d in enumerate(delays, start=1):
        cap = min(10.0, 2 ** (k - 1))
        assert cap / 2 <= d <= cap
    assert retry_delay(3, 1.0, 10.0, retry_after=60) == 10.0


# -- through the CLI -------------------------------------------------------------------------------------
def page_answer(page: int) -> str:
    """A QwenVL HTML answer in Qwen2.5-VL's pixel coordinates, different per page."""
    return (f'```html\n<html><body><h1 data-bbox="28 28 {300 + page} 84">Title {page}</h1>'
            f'<p data-bbox="28 112 {600 + page} 168">Body of page {page}.</p></body></html>\n```')


def rendered_pages(pdf: Path, family=QWEN25, task: str = "doc") -> dict[int, Image.Image]:
    """The page images vlparse renders for the model (the same code path as a run)."""
    from vlparse.core.geometry import Budget
    from vlparse.pages.render import open_source

    budget = Budget(family.default_min_pixels(), family.default_max_pixels(task))
    with open_source(str(pdf)) as src:
        return {n: src.page(n, family, budget).image for n in range(1, src.page_count + 1)}


def test_doc_through_a_server_gives_the_same_json_as_from_output(tmp_path, cli):
    from vlparse.run.prompts import load_prompt

    pdf = make_pdf(tmp_path / "file.pdf", pages=3, rotate={2: 90})
    images = rendered_pages(pdf)
    by_hash = {pixel_hash(img): page_answer(n) for n, img in images.items()}
    recorded = tmp_path / "answers.jsonl"
    recorded.write_text("".join(json.dumps({"page": n, "output": page_answer(n)}) + "\n" for n in images))

    with FakeOpenAIServer(lambda req: by_hash.get(req.image_hash, "unknown image")) as srv:
        res = cli("doc", pdf, "--backend", "openai", "--base-url", srv.url, "--family", "qwen2.5-vl",
                  "--json", "-o", tmp_path / "server.json")
    assert res.exit_code == 0, res.stderr
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", recorded, "--json", "-o", tmp_path / "rec.json")
    assert res.exit_code == 0, res.stderr

    served = json.loads((tmp_path / "server.json").read_text())
    offline = json.loads((tmp_path / "rec.json").read_text())
    served.pop("model")
    offline.pop("model")
    assert served == offline
    # complete answers; not this PDF's text, which verification against the text layer calls suspect
    assert [p["status"] for p in served["pages"]] == ["suspect", "suspect", "suspect"]

    prompt = load_prompt(QWEN25, "doc")
    assert sorted(r.image_hash for r in srv.chat_requests) == sorted(by_hash)  # each page once, pixel-exact
    for r in srv.chat_requests:
        assert (r.system, r.user) == (prompt.system, prompt.user)
        assert r.image_size in {img.size for img in images.values()}
        assert r.params["max_tokens"] == 8192 and r.params["temperature"] == 0.0


def test_batch_with_injected_faults_loses_no_page_and_duplicates_none(tmp_path, cli):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):  # different page sizes: every page of every PDF renders differently
        make_pdf(src / f"doc{k}.pdf", pages=2, size=(595 + 20 * k, 842))
    with FakeOpenAIServer(lambda req: page_answer(1)) as srv:
        srv.inject("500", "drop", "429", "hang", "503", "502")
        res = cli("doc", src, "--backend", "openai", "--base-url", srv.url, "--family", "qwen2.5-vl",
                  "--concurrency", "2", "--timeout", "1", "-o", tmp_path / "out", "--jsonl", "--json")
    assert res.exit_code == 0, res.stderr
    lines = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    seen = [(Path(r["source"]).name, r["page"]) for r in lines]
    assert sorted(seen) == sorted((f"doc{k}.pdf", p) for k in range(3) for p in (1, 2))  # all, once each
    assert all(r["status"] == "suspect" for r in lines)  # complete; the canned answer is not the PDFs' text
    for k in range(3):
        doc = json.loads((tmp_path / "out" / f"doc{k}.json").read_text())
        assert [p["page"] for p in doc["pages"]] == [1, 2]
    answered = [r.image_hash for r in srv.answered()]
    assert len(answered) == 6 and len(set(answered)) == 6
    assert len(srv.chat_requests) == 6 + 6
    manifest = [json.loads(ln) for ln in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted((Path(m["source"]).name, m["page"]) for m in manifest) == sorted(seen)

    # the same command again resumes: every page is already done, the server is not asked
    with FakeOpenAIServer(lambda req: page_answer(1)) as again:
        res = cli("doc", src, "--backend", "openai", "--base-url", again.url, "--family", "qwen2.5-vl",
                  "-o", tmp_path / "out", "--jsonl", "--json")
    assert res.exit_code == 0, res.stderr
    assert again.chat_requests == []


def test_unreachable_server_through_the_cli_is_exit_5_and_never_shows_the_key(tmp_path, cli):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    url = f"http://127.0.0.1:{free_port()}/v1"
    res = cli("doc", pdf, "--backend", "openai", "--base-url", url, "--family", "qwen2.5-vl",
              "--api-key", "sk-very-secret", "-o", tmp_path / "a.json")
    assert res.exit_code == EXIT_BACKEND
    errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert errors[-1] == f"vlparse: error: cannot reach the server at {url}: connection refused"
    assert "Traceback" not in res.stderr
    assert "sk-very-secret" not in res.stderr + res.stdout
    assert not (tmp_path / "a.json").exists()


def test_unknown_model_through_the_cli_is_exit_5(tmp_path, cli, server, monkeypatch):
    monkeypatch.setenv("VLPARSE_API_KEY", "sk-env-secret")
    server.api_key = "sk-env-secret"
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    res = cli("doc", pdf, "--backend", "openai", "--base-url", server.url, "--api-model", "Qwen/Qwen3-VL-8B",
              "-o", tmp_path / "a.json")
    assert res.exit_code == EXIT_BACKEND, res.stderr
    assert (f"vlparse: error: the server at {server.url} does not serve the model 'Qwen/Qwen3-VL-8B' "
            "(it serves: Qwen/Qwen2.5-VL-7B-Instruct)") in res.stderr
    assert "sk-env-secret" not in res.stderr + res.stdout
    assert server.chat_requests == []


def test_ground_through_a_server_equals_from_output(tmp_path, cli):
    photo = tmp_path / "photo.png"
    noise(640, 480, seed=3).save(photo)
    answer = '```json\n[{"bbox_2d": [10, 20, 200, 220], "label": "car"}]\n```'
    recorded = tmp_path / "answer.txt"
    recorded.write_text(answer)
    with FakeOpenAIServer(lambda req: answer) as srv:
        res = cli("ground", photo, "red car", "--backend", "openai", "--base-url", srv.url, "--family", "qwen2.5-vl",
                  "-o", tmp_path / "server.jsonl")
    assert res.exit_code == 0, res.stderr
    res = cli("ground", photo, "red car", "--family", "qwen2.5-vl", "--from-output", recorded,
              "-o", tmp_path / "rec.jsonl")
    assert res.exit_code == 0, res.stderr
    served = [json.loads(ln) for ln in (tmp_path / "server.jsonl").read_text().splitlines()]
    offline = [json.loads(ln) for ln in (tmp_path / "rec.jsonl").read_text().splitlines()]
    for rec in served + offline:
        rec.pop("model", None)
    assert served == offline and served[0]["detections"][0]["label"] == "car"
    [req] = srv.chat_requests
    assert req.image_size == (served[0]["model_width"], served[0]["model_height"])
    assert "red car" in req.user


def test_the_family_and_model_name_come_from_the_server_when_not_given(tmp_path, cli):
    """The issue's literal command: no --family, no --api-model; the one served model names the family."""
    pdf = make_pdf(tmp_path / "file.pdf", pages=1)
    with FakeOpenAIServer(lambda req: page_answer(1)) as srv:
        res = cli("doc", pdf, "--backend", "openai", "--base-url", srv.url, "--json", "-o", tmp_path / "out.json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["family"] == "qwen2.5-vl" and doc["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert doc["pages"][0]["blocks"][0]["text"] == "Title 1"


# -- current vLLM: per-request processor kwargs refused, exactness checked from usage.prompt_tokens -------
def test_refused_processor_kwargs_fall_back_once_and_pages_stay_exact(capsys):
    """vLLM 0.32 without --trust-request-mm-kwargs answers 400: vlparse resends without them, once for the run."""
    with FakeOpenAIServer(lambda req: req.image_hash, mm_kwargs="refuse") as srv, \
            backend(srv.url, concurrency=1) as b:
        reqs = requests_for(3, size=(280, 336))  # inside the server's own pixel range: not resampled
        answers = b.generate(reqs)
        assert b.kwargs_accepted is False
    assert [a.text for a in answers] == [pixel_hash(r.image) for r in reqs]
    refused = [r for r in srv.chat_requests if "mm_processor_kwargs" in r.params]
    assert len(refused) == 1  # detected once, not once per page
    assert [r.image_hash for r in srv.answered()] == [pixel_hash(r.image) for r in reqs]
    assert all("mm_processor_kwargs" not in r.params for r in srv.answered())
    assert capsys.readouterr().err.count("--trust-request-mm-kwargs") == 1


def test_a_server_that_resizes_pages_stops_the_run_at_the_first_page_naming_the_flag():
    # kwargs refused and the server's own max_pixels is below the page: the server would resample it
    with FakeOpenAIServer(lambda req: "x", mm_kwargs="refuse", processor_pixels=(3136, 200 * 28 * 28)) as srv, \
            backend(srv.url, concurrency=1) as b:
        with pytest.raises(BackendError) as e:
            b.generate(requests_for(3, size=(560, 560)))  # 400 image tokens, the server makes <= 200
    assert e.value.exit_code == EXIT_BACKEND
    msg = e.value.message
    assert "doc.pdf#1 was sent as 560x560 (400 image tokens)" in msg and "\n" not in msg
    assert "--mm-processor-kwargs '{\"min_pixels\": 3136, \"max_pixels\": 2195200}'" in msg
    assert len(srv.answered()) == 1  # stopped at the first page


def test_a_served_model_of_another_grid_is_caught_even_when_kwargs_are_accepted():
    with FakeOpenAIServer(models=("Qwen/Qwen3-VL-8B-Instruct",)) as srv, backend(srv.url, family=QWEN25) as b:
        with pytest.raises(BackendError, match="check --family"):
            b.generate(requests_for(1, size=(280, 336)))


def test_the_prompt_is_measured_once_with_a_calibration_request(server):
    with backend(server.url, concurrency=1) as b:
        b.generate(requests_for(3))
    [cal] = server.calibrations
    assert cal.params["max_tokens"] == 1 and (cal.system, cal.user) == (PROMPT.system, PROMPT.user)
    assert cal.image_size == (56, 56)


def test_a_server_without_usage_gets_one_warning(capsys):
    with FakeOpenAIServer(lambda req: "fine", usage=False) as srv, backend(srv.url, concurrency=1) as b:
        answers = b.generate(requests_for(3))
    assert all(a.text == "fine" for a in answers)
    assert capsys.readouterr().err.count("reports no token usage") == 1


def test_max_tokens_fills_the_context_exactly():
    """The prompt's real token count, not a cautious bound: vLLM refuses prompt + max_tokens > max_model_len."""
    from fake_openai_server import text_tokens

    text = text_tokens(PROMPT.system, PROMPT.user)
    with FakeOpenAIServer(max_model_len=100 + text + 40) as srv, backend(srv.url) as b:
        [req] = requests_for(1, size=(280, 280))  # 100 image tokens
        [ans] = b.generate([Request(req.key, req.image, PROMPT, 8192, 0.0, 1.0, 3136, 2_195_200)])
    assert ans.finish_reason == "stop"
    assert srv.chat_requests[0].params["max_tokens"] == 40 == ans.meta["max_tokens"]


# -- circuit breaker -----------------------------------------------------------------------------------
def test_a_dead_only_server_stops_the_run_instead_of_retrying_every_page():
    srv = FakeOpenAIServer(lambda req: "ok").start()
    b = backend(srv.url, concurrency=2, retries=4)
    b.generate(requests_for(1))
    srv.stop()  # the server dies mid-run
    try:
        with pytest.raises(BackendError) as e:
            b.generate(requests_for(20))
    finally:
        b.close()
    assert e.value.exit_code == EXIT_BACKEND and "stopped answering" in e.value.message
    assert sum(s.sent for s in b.servers) <= 1 + 1 + 3 + 2  # 3 failures open the breaker; not 20 x 5 attempts


def test_429_and_5xx_do_not_count_as_a_dead_server(server):
    server.inject("500", "503", "429", "502", "500")
    with backend(server.url, concurrency=1, retries=6) as b:
        [ans] = b.generate(requests_for(1))
        assert b.servers[0].dead_until == 0.0
    assert ans.finish_reason == "stop"


def test_a_dead_server_among_several_is_left_alone_and_the_others_finish(server):
    other = FakeOpenAIServer(lambda req: "ok").start()
    other_url = other.url
    with backend([other_url, server.url], concurrency=1, retries=4) as b:
        other.stop()
        answers = b.generate(requests_for(6))
        dead = next(s for s in b.servers if s.url == other_url)
        assert dead.dead_until > 0
    assert all(a.finish_reason == "stop" for a in answers)
    assert len(server.answered()) == 6


# -- through the CLI: context limit, served model on resume, refused kwargs --------------------------------
def test_a_stop_at_the_context_limit_vlparse_set_is_not_blamed_on_max_new_tokens(tmp_path, cli):
    photo = tmp_path / "photo.png"
    noise(280, 280, seed=1).save(photo)
    with FakeOpenAIServer(lambda req: Reply('```json\n[{"bbox_2d": [1, 2', "length", 20), max_model_len=600) as srv:
        res = cli("ground", photo, "car", "--backend", "openai", "--base-url", srv.url, "--family", "qwen2.5-vl",
                  "--retries", "0", "-o", tmp_path / "out.jsonl")
    assert res.exit_code == 0, res.stderr
    [rec] = [json.loads(ln) for ln in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rec["status"] == "truncated"
    text = " ".join(rec["warnings"])
    assert "end of the server's context" in text and "--max-new-tokens" not in text


def test_resume_notices_a_different_served_model_when_only_family_is_given(tmp_path, cli):
    pdf = make_pdf(tmp_path / "file.pdf", pages=2)
    args = ("doc", pdf, "--backend", "openai", "--family", "qwen2.5-vl", "--json", "-o", tmp_path / "out")
    with FakeOpenAIServer(lambda req: page_answer(1), models=("Qwen/Qwen2.5-VL-7B-Instruct",)) as srv:
        res = cli(*args, "--base-url", srv.url)
    assert res.exit_code == 0, res.stderr
    with FakeOpenAIServer(lambda req: page_answer(1), models=("Qwen/Qwen2.5-VL-72B-Instruct",)) as other:
        res = cli(*args, "--base-url", other.url)
    assert res.exit_code == 0, res.stderr
    assert len(other.chat_requests) == 2  # another model: the pages are redone, not resumed
    doc = json.loads((tmp_path / "out" / "file.json").read_text())
    assert doc["model"] == "Qwen/Qwen2.5-VL-72B-Instruct"


def test_a_resizing_server_through_the_cli_is_exit_5_with_one_line(tmp_path, cli):
    pdf = make_pdf(tmp_path / "file.pdf", pages=3)
    with FakeOpenAIServer(lambda req: page_answer(1), mm_kwargs="refuse", processor_pixels=(3136, 500 * 784)) as srv:
        res = cli("doc", pdf, "--backend", "openai", "--base-url", srv.url, "--concurrency", "1",
                  "-o", tmp_path / "out")
    assert res.exit_code == EXIT_BACKEND, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("vlparse: error:")]
    assert len(errors) == 1 and "--mm-processor-kwargs" in errors[0] and "Traceback" not in res.stderr
    assert len(srv.answered()) == 1
