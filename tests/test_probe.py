"""``vlparse probe`` against the fake OpenAI server (and, in test_vllm_real.py, against a real vLLM)."""

from __future__ import annotations

import json

import pytest
from fake_openai_server import FakeOpenAIServer

from vlparse.core.errors import EXIT_BACKEND
from vlparse.tools.probe import TARGET


def box_answer(space: str, w: int, h: int) -> str:
    x1, y1, x2, y2 = TARGET
    if space == "absolute":
        box = [round(x1 * w), round(y1 * h), round(x2 * w), round(y2 * h)]
    else:
        box = [round(x1 * 1000), round(y1 * 1000), round(x2 * 1000), round(y2 * 1000)]
    return f'```json\n[{{"bbox_2d": {box}, "label": "the black rectangle"}}]\n```'


def probe(cli, url, *extra):
    res = cli("probe", "--base-url", url, "--json", *extra)
    return res, (json.loads(res.stdout) if res.stdout.strip() else None)


@pytest.mark.parametrize("space,verdict,code", [("absolute", "ok", 0), ("rel1000", "wrong", 1)])
def test_the_coordinate_space_is_checked_on_a_known_box(cli, space, verdict, code):
    """Qwen2.5-VL answers in the pixels of the image it saw; the same box in 0..1000 means a wrong --family."""
    with FakeOpenAIServer(lambda req: box_answer(space, *req.image_size)) as srv:
        url = srv.url
        res, rep = probe(cli, url)
    assert res.exit_code == code, res.stderr
    assert rep == {"server": url, "model": "Qwen/Qwen2.5-VL-7B-Instruct", "family": "qwen2.5-vl",
                   "max_model_len": None, "kwargs_accepted": True, "image_tokens_ok": True,
                   "coord_space": verdict, "note": ""}


def test_qwen3_answers_in_rel1000(cli):
    with FakeOpenAIServer(lambda req: box_answer("rel1000", *req.image_size), models=("Qwen/Qwen3-VL-8B-Instruct",),
                          max_model_len=8192) as srv:
        res, rep = probe(cli, srv.url)
    assert res.exit_code == 0 and rep["coord_space"] == "ok" and rep["max_model_len"] == 8192


def test_a_model_that_cannot_localise_is_unknown_not_wrong(cli):
    with FakeOpenAIServer(lambda req: "6ocument ocument") as srv:
        res, rep = probe(cli, srv.url)
    assert res.exit_code == 0 and rep["coord_space"] == "unknown"


def test_a_server_that_refuses_kwargs_and_resizes_fails_the_image_check(cli):
    with FakeOpenAIServer(lambda req: "x", mm_kwargs="refuse", processor_pixels=(3136, 100 * 784)) as srv:
        res, rep = probe(cli, srv.url)
    assert res.exit_code == 1
    assert rep["kwargs_accepted"] is False and rep["image_tokens_ok"] is False
    assert "--mm-processor-kwargs" in rep["note"]


def test_a_server_without_usage_leaves_the_image_check_unknown(cli):
    with FakeOpenAIServer(lambda req: "x", usage=False) as srv:
        res, rep = probe(cli, srv.url)
    assert res.exit_code == 0 and rep["image_tokens_ok"] is None and "no token usage" in rep["note"]


def test_an_unreachable_server_is_exit_5(cli):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res, _ = probe(cli, f"http://127.0.0.1:{port}/v1", "--family", "qwen2.5-vl")
    assert res.exit_code == EXIT_BACKEND and "vlparse: error: cannot reach the server" in res.stderr


def test_the_table_names_every_check(cli):
    with FakeOpenAIServer(lambda req: "x") as srv:
        res = cli("probe", "--base-url", srv.url)
    assert res.exit_code == 0
    for col in ("model", "family", "max_model_len", "kwargs_accepted", "image_tokens_ok", "coord_space"):
        assert col in res.stdout
