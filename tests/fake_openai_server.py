"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: answers from recorded outputs.

``FakeOpenAIServer`` implements ``GET /v1/models`` and ``POST /v1/chat/completions`` in the shape vLLM
and SGLang use, records every chat request (decoded image size and pixel hash, prompt texts, decoding
parameters, processor kwargs, the Authorization header), can inject faults in order (HTTP 500, 429 with
Retry-After, a hang past the client's timeout, a dropped connection, any other status), and measures
the largest number of chat requests it ever had in flight at once.

Like vLLM it reports ``usage.prompt_tokens``: the prompt's text tokens (:func:`text_tokens`) plus the image
tokens its processor makes of the image (``smart_resize`` onto the served family's grid, within the
request's ``mm_processor_kwargs`` when accepted, else within ``processor_pixels``); it refuses per-request
processor kwargs with vLLM 0.32's HTTP 400 when ``mm_kwargs="refuse"``, can leave usage out
(``usage=False``), and refuses prompts longer than ``max_model_len`` as vLLM does. Calibration requests
(``max_tokens == 1``: vlparse measuring its prompt's text tokens) are kept apart in ``calibrations`` and
get no faults and no gate, so tests count pages in ``chat_requests``.

    with FakeOpenAIServer(lambda req: "answer text") as srv:
        srv.faults.extend(["500", "drop"])
        ... OpenAIBackend(family, [srv.url], ...) ...
        srv.chat_requests, srv.max_in_flight
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


def pixel_hash(image: Image.Image) -> str:
    """Hash of an image's RGB pixels and size: equal iff the pixels are identical."""
    rgb = image.convert("RGB")
    return hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()


class Gate:
    """Holds requests in groups of ``size``: arrival k waits until arrivals k//size*size .. +size-1 are all in.

    Shared by several servers, it proves the client's total in-flight count; with a client that keeps exactly
    ``size`` requests in flight and a multiple of ``size`` requests, every group fills and nothing waits for
    the timeout (a client with fewer in flight would hang a group until ``timeout``).
    """

    def __init__(self, size: int, timeout: float = 10.0):
        self.size, self.timeout = size, timeout
        self._arrivals = 0
        self._cond = threading.Condition()
        self._open = False

    def enter(self) -> None:
        with self._cond:
            group = self._arrivals // self.size
            self._arrivals += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._open or self._arrivals >= (group + 1) * self.size, timeout=self.timeout)

    def release(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


#: vLLM 0.32's answer to per-request processor kwargs when the server was not started with the flag
REFUSE_KWARGS = ("Per-request mm_processor_kwargs are disabled for this server. Start the server with "
                 "--trust-request-mm-kwargs to allow them.")


def text_tokens(system: str | None, user: str) -> int:
    """The fake's token count of a prompt's text and chat template (deterministic, not a real tokenizer)."""
    return 21 + (len(system or "") + len(user)) // 4


def smart_resize(width: int, height: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The Qwen processors' resize rule: the size the server's processor gives an image."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


@dataclass
class ChatRequest:
    """What the server received in one chat-completions call."""

    model: str
    system: str | None
    user: str
    image_size: tuple[int, int] | None
    image_format: str | None
    image_hash: str | None
    params: dict[str, Any]  # every top-level field but messages
    authorization: str | None
    fault: str | None = None  # the fault injected into this call, if any


@dataclass
class Reply:
    text: str
    finish_reason: str = "stop"
    completion_tokens: int | None = None


@dataclass
class Fault:
    kind: str  # "500" | "429" | "hang" | "drop" | any HTTP status such as "400"
    retry_after: float | None = None
    body: str = ""


Responder = Callable[[ChatRequest], "str | Reply"]


@dataclass
class FakeOpenAIServer:
    responder: Responder = lambda req: "ok"
    models: tuple[str, ...] = ("Qwen/Qwen2.5-VL-7B-Instruct",)
    api_key: str | None = None  # when set, requests without "Bearer <key>" get 401
    max_model_len: int | None = None
    #: when set, chat requests are held in groups (see :class:`Gate`; an int makes a gate of that size)
    gate: Gate | int | None = None
    hang_seconds: float = 10.0  # how long a "hang" fault holds the request (released at stop)
    faults: deque = field(default_factory=deque)
    chat_requests: list[ChatRequest] = field(default_factory=list)
    model_requests: int = 0
    max_in_flight: int = 0
    #: "accept" per-request mm_processor_kwargs (vLLM with --trust-request-mm-kwargs, SGLang) or "refuse" them
    mm_kwargs: str = "accept"
    usage: bool = True  # report usage.prompt_tokens
    #: the server processor's own (min_pixels, max_pixels); default: the served family's released defaults
    processor_pixels: tuple[int, int] | None = None
    factor: int | None = None  # the served family's grid (default: from the first model's name)
    calibrations: list[ChatRequest] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Condition()
        self._in_flight = 0
        self._released = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if isinstance(self.gate, int):
            self.gate = Gate(self.gate)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self.gate is not None:
            self.gate.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers for tests -----------------------------------------------------------------------
    def inject(self, *kinds: str | Fault) -> None:
        """Faults for the next chat requests, in order ("500", "429", "hang", "drop", "400", ...)."""
        for k in kinds:
            self.faults.append(k if isinstance(k, Fault) else Fault(str(k)))

    def image_tokens(self, req: ChatRequest) -> int:
        """How many image tokens this server's processor makes of the request's image."""
        from vlparse.core.families import QWEN2_5_VL, guess_family_from_name

        fam = guess_family_from_name(self.models[0]) or QWEN2_5_VL
        factor = self.factor or fam.factor
        lo, hi = self.processor_pixels or (fam.processor_min_pixels, fam.processor_max_pixels)
        mm = req.params.get("mm_processor_kwargs") or {}
        if self.mm_kwargs == "accept":
            lo, hi = mm.get("min_pixels", lo), mm.get("max_pixels", hi)
        w, h = smart_resize(*req.image_size, factor, lo, hi)
        return (w // factor) * (h // factor)

    def answered(self) -> list[ChatRequest]:
        """Chat requests that got a normal answer."""
        with self._lock:
            return [r for r in self.chat_requests if r.fault is None]

    # -- request handling (called from handler threads) ------------------------------------------------
    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        if self.gate is not None:
            self.gate.enter()

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None


def _decode_data_url(url: str) -> tuple[Image.Image, str]:
    head, _, data = url.partition(",")
    if not head.startswith("data:image/") or ";base64" not in head:
        raise ValueError(f"not a base64 image data URL: {head[:40]}")
    fmt = head[len("data:image/"):].split(";")[0]
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image, fmt


def _parse_chat(body: dict, authorization: str | None) -> ChatRequest:
    system, user, image = None, "", None
    fmt = None
    for msg in body.get("messages", []):
        content = msg.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for part in parts:
            if part.get("type") == "text":
                if msg.get("role") == "system":
                    system = part["text"]
                else:
                    user += part["text"]
            elif part.get("type") == "image_url":
                image, fmt = _decode_data_url(part["image_url"]["url"])
    return ChatRequest(
        model=body.get("model", ""), system=system, user=user,
        image_size=image.size if image is not None else None, image_format=fmt,
        image_hash=pixel_hash(image) if image is not None else None,
        params={k: v for k, v in body.items() if k != "messages"}, authorization=authorization,
    )


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (timeouts, aborted runs) is expected here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": "error", "code": status}}, headers)

    def _authorised(self) -> bool:
        key = self.fake.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._error(401, "Unauthorized")
            return False
        return True

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, f"Not Found: {self.path}")
            return
        self.fake.model_requests += 1
        if not self._authorised():
            return
        data = []
        for name in self.fake.models:
            entry: dict[str, Any] = {"id": name, "object": "model", "owned_by": "vllm", "root": name}
            if self.fake.max_model_len:
                entry["max_model_len"] = self.fake.max_model_len
            data.append(entry)
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"Not Found: {self.path}")
            return
        if not self._authorised():
            return
        fake = self.fake
        try:
            req = _parse_chat(json.loads(raw), self.headers.get("Authorization"))
        except (ValueError, KeyError, TypeError, OSError) as e:
            self._error(400, f"bad request: {e}")
            return
        if self._refused(req):
            return
        if req.params.get("max_tokens") == 1:  # vlparse's calibration request: no fault, no gate
            with fake._lock:
                fake.calibrations.append(req)
            self._answer(req, Reply("x", "length", 1))
            return
        fault = fake._next_fault()
        req.fault = fault.kind if fault else None
        with fake._lock:
            fake.chat_requests.append(req)
        if fault is not None:  # faulted calls are not counted in flight: the client may give up on them first
            self._inject(fault)
            return
        fake._enter()
        try:
            if req.model not in fake.models:
                self._error(404, f"The model `{req.model}` does not exist.")
                return
            reply = fake.responder(req)
            self._answer(req, Reply(reply) if isinstance(reply, str) else reply)
        finally:
            fake._leave()

    def _prompt_tokens(self, req: ChatRequest) -> int:
        return text_tokens(req.system, req.user) + (self.fake.image_tokens(req) if req.image_size else 0)

    def _refused(self, req: ChatRequest) -> bool:
        """vLLM's 400s: per-request processor kwargs when not trusted, a prompt + max_tokens over the context."""
        fake = self.fake
        if fake.mm_kwargs == "refuse" and req.params.get("mm_processor_kwargs"):
            req.fault = "400"
            with fake._lock:
                fake.chat_requests.append(req)
            self._error(400, REFUSE_KWARGS)
            return True
        need = self._prompt_tokens(req) + int(req.params.get("max_tokens") or 0)
        if fake.max_model_len and need > fake.max_model_len:
            req.fault = "400"
            with fake._lock:
                fake.chat_requests.append(req)
            self._error(400, f"This model's maximum context length is {fake.max_model_len} tokens. However, you "
                             f"requested {need} tokens.")
            return True
        return False

    def _answer(self, req: ChatRequest, reply: Reply) -> None:
        fake = self.fake
        tokens = reply.completion_tokens if reply.completion_tokens is not None else max(1, len(reply.text) // 4)
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{len(fake.chat_requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": req.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason, "stop_reason": None}],
        }
        if fake.usage:
            prompt = self._prompt_tokens(req)
            payload["usage"] = {"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens}
        self._send_json(200, payload)

    def _inject(self, fault: Fault) -> None:
        if fault.kind == "hang":  # say nothing until the client gives up (or the server stops), then drop
            self._wait_for_client_close(self.fake.hang_seconds)
            self._drop()
            return
        if fault.kind == "drop":
            self._drop()
            return
        status = int(fault.kind)
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
        default = "Too Many Requests" if status == 429 else f"injected HTTP {status}"
        self._error(status, fault.body or default, headers)

    def _wait_for_client_close(self, limit: float) -> None:
        end = time.monotonic() + limit
        while time.monotonic() < end and not self.fake._released.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return
                except OSError:
                    return

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
