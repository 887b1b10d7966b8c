"""The server backend: OpenAI-compatible chat completions (vLLM, SGLang) on one or many servers.

Each page goes out as one ``POST {base}/chat/completions`` with the page image already at the
model's native size (lossless PNG, base64 data URL), the family's prompt and the run's decoding
setup, plus the pixel budget as ``mm_processor_kwargs`` so vLLM's processor keeps the image as it
is (the image is on the factor grid inside the budget, so ``smart_resize`` is the identity).

- Several ``--base-url`` servers share the work: each request goes to the least-loaded server with a
  free slot (at most ``concurrency`` requests in flight per server); a server that just failed is
  avoided for a moment, so a retry usually lands on another one.
- 429, 5xx, dropped connections and timeouts are retried with exponential backoff and jitter
  (``Retry-After`` honoured); when the retries are spent, that page's answer is an error and the run
  goes on. A rejected API key or a missing endpoint dooms the run (:class:`BackendError`, exit 5).
- At start, ``GET {base}/models`` checks that the servers answer and serve the model.
- Current vLLM refuses per-request ``mm_processor_kwargs`` unless started with ``--trust-request-mm-kwargs``:
  the refusal (HTTP 400) is detected once and pages are then sent without them. Either way exactness is
  verified, not trusted: a calibration request (``max_tokens`` 1, an image of known size) measures the
  prompt's text tokens once per prompt, and every answer's ``usage.prompt_tokens`` must equal them plus the
  page's grid ``(w/factor)·(h/factor)``; a server that resized a page stops the run (exit 5) with the flag to
  change. The same count makes the ``max_tokens`` fitted to ``max_model_len`` exact.
- Circuit breaker: :data:`DEAD_AFTER` connection failures in a row leave a server alone for :data:`DEAD_FOR`
  seconds; with every server dead the run stops (exit 5) instead of retrying each remaining page.

Only the standard library is used (``http.client`` + ``concurrent.futures``): sockets of requests in
flight are tracked, so an interrupted run closes them at once (vLLM then aborts the generation).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import Future, FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from vlparse.run import console
from vlparse.core.errors import BackendError, UsageError
from vlparse.core.families import Family, guess_family_from_name
from vlparse.core.options import CONCURRENCY, TIMEOUT
from vlparse.backends.base import Answer, Backend, Request

#: answers worth another try: overloaded, rate-limited, restarting, gateway trouble
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: end-of-turn tokens a server may leave at the end when special tokens are kept
END_TOKENS = ("<|im_end|>", "<|endoftext|>")
#: chat-template tokens around the prompt, an upper bound used when fitting max_tokens to the context
TEMPLATE_TOKENS = 64
#: retry schedule: attempts after the first, first backoff (doubling, with jitter) and its cap, in seconds
RETRIES = 4
BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: circuit breaker: connection failures in a row that mark a server dead, and for how many seconds
DEAD_AFTER = 3
DEAD_FOR = 30.0


# -- pure helpers ----------------------------------------------------------------------------------
def normalise_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; trailing slashes removed; credentials refused."""
    raw = url.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url must be an http(s) URL such as http://127.0.0.1:8000/v1 (got '{url}')")
    if parts.username or parts.password:
        raise UsageError("--base-url must not carry credentials; give the key with --api-key or VLPARSE_API_KEY")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise UsageError(f"--base-url has an invalid port (got '{url}')") from None
    path = parts.path.rstrip("/") or "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def encode_image(image, fmt: str = "png") -> str:
    """A lossless ``data:`` URL of the image, pixel for pixel (PNG, or lossless WebP)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    buf = io.BytesIO()
    if fmt == "webp":
        image.save(buf, format="WEBP", lossless=True)
    else:  # level 1: half the time of the default level for about the same size on rendered pages
        image.save(buf, format="PNG", compress_level=1)
    return f"data:image/{fmt};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def processor_kwargs(family: Family, min_pixels: int | None, max_pixels: int | None) -> dict[str, int] | None:
    """vLLM's per-request processor overrides: the run's pixel budget, so the page is not resized.

    ``min_pixels`` / ``max_pixels`` are the names the Qwen image processors accept in transformers 4.x
    and 5.x (5.x maps them onto ``size``); flat integers keep vLLM's processor cache key hashable.
    """
    if family.fixed_size or not (min_pixels and max_pixels):
        return None
    return {"min_pixels": int(min_pixels), "max_pixels": int(max_pixels)}


def grid_tokens(family: Family, size: tuple[int, int]) -> int:
    """The image tokens of an image already on the family's grid: ``(w / factor) * (h / factor)``."""
    if family.fixed_size:
        return 256
    w, h = size
    return (w // family.factor) * (h // family.factor)


def prompt_tokens_needed(family: Family, request: Request, text_tokens: int | None = None) -> int:
    """The prompt's tokens: the image's tokens plus the text's, exact when the text's count is known (measured
    from the server), else an upper bound of one token per character plus the chat template."""
    if text_tokens is None:
        text_tokens = len(request.prompt.user) + len(request.prompt.system or "") + TEMPLATE_TOKENS
    return grid_tokens(family, request.image.size) + text_tokens


def calibration_image(family: Family, min_pixels: int | None):
    """A small blank square on the family's grid that no processor resizes (at least its own minimum)."""
    from PIL import Image

    floor = max(min_pixels or 0, family.processor_min_pixels, 4 * family.factor**2)
    side = family.factor * math.ceil(math.sqrt(floor) / family.factor)
    return Image.new("RGB", (side, side), "white")


def kwargs_refused(message: str) -> bool:
    """A 400 that refuses per-request processor kwargs (vLLM without --trust-request-mm-kwargs)."""
    low = message.lower()
    return "mm_processor_kwargs" in low or "trust-request-mm-kwargs" in low or "trust_request_mm_kwargs" in low


def chat_body(request: Request, family: Family, model: str, image_url: str, max_tokens: int) -> dict[str, Any]:
    """The JSON body of one chat-completions request."""
    messages: list[dict[str, Any]] = []
    if request.prompt.system:
        messages.append({"role": "system", "content": request.prompt.system})
    messages.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}},
                                                 {"type": "text", "text": request.prompt.user}]})
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": request.temperature,
        # explicit, so the server's generation_config.json defaults (Qwen ships repetition_penalty 1.05,
        # top_k 1) do not silently change the decoding vlparse asked for
        "repetition_penalty": request.repetition_penalty,
        # Qwen2-VL's <|box_start|>... and Qwen-VL's <ref>/<box> are special tokens: keep them
        "skip_special_tokens": False,
        "n": 1,
        "stream": False,
    }
    if request.temperature > 0:
        body.update(top_p=0.95, top_k=-1)
    mm = processor_kwargs(family, request.min_pixels, request.max_pixels)
    if mm:
        body["mm_processor_kwargs"] = mm
    return body


def parse_completion(data: Any) -> tuple[str, str, int, int | None]:
    """(text, finish_reason, completion_tokens, prompt_tokens) of a chat-completions answer."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ValueError("the answer has no choices")
    choice = data["choices"][0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    if not isinstance(text, str):
        raise TypeError("the answer's message content is not text")
    for tok in END_TOKENS:
        text = text.removesuffix(tok)
    finish = {"stop": "stop", "length": "length", "eos": "stop"}.get(choice.get("finish_reason") or "stop")
    if finish is None:
        raise ValueError(f"the generation ended with finish_reason '{choice.get('finish_reason')}'")
    usage = data.get("usage") or {}
    return text, finish, int(usage.get("completion_tokens") or 0), usage.get("prompt_tokens")


def error_message(body: bytes) -> str:
    """The server's own error text (vLLM / SGLang / OpenAI JSON shapes, or plain text), on one line."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            text = str(err["message"])
        elif isinstance(err, str):
            text = err
        elif data.get("message"):
            text = str(data["message"])
        elif data.get("detail"):
            text = str(data["detail"])
    line = " ".join(text.split())
    return line[:300] + ("…" if len(line) > 300 else "")


def retry_delay(attempt: int, base: float, cap: float, retry_after: float | None = None,
                rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): full-jitter exponential backoff, or Retry-After."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    r = (rng or random).random()
    return min(cap, base * 2 ** (attempt - 1)) * (0.5 + 0.5 * r)


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: rare from inference servers; fall back to backoff
        return None


def describe_oserror(err: BaseException, timeout: float, host: str) -> str:
    """A short reason for a failed connection or exchange."""
    if isinstance(err, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return f"unknown host '{host}'"
    if isinstance(err, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(err, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(err, http.client.IncompleteRead):
        return "the answer was cut off"
    if isinstance(err, ssl.SSLError):
        return f"TLS error: {err.reason or err}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


# -- transport -------------------------------------------------------------------------------------
class _Transient(Exception):
    """A failure worth retrying (connection trouble, timeout, 429/5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None, connection: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.connection = connection  # no HTTP answer at all (counts towards the circuit breaker)


class _Refused(Exception):
    """The server answered the request with a refusal not worth retrying (e.g. HTTP 400)."""

    def __init__(self, message: str, server: str, attempts: int):
        super().__init__(message)
        self.message, self.server, self.attempts = message, server, attempts


class _Spent(Exception):
    """Every attempt failed with a transient error."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.message, self.attempts = message, attempts


class _Stopped(Exception):
    """The backend was closed or interrupted while a request waited."""


class ServerUnreachable(BackendError):
    """Nothing answers at a base URL (refused, unknown host, timeout)."""


@dataclass
class Server:
    url: str  # normalised base URL, e.g. http://10.0.0.5:8000/v1
    in_flight: int = 0
    sent: int = 0
    avoid_until: float = 0.0  # monotonic time before which the server is only used when nothing else is free
    failures: int = 0  # connection failures in a row
    dead_until: float = 0.0  # monotonic time before which the server gets no request (circuit breaker open)

    def __post_init__(self):
        p = urlsplit(self.url)
        self.https = p.scheme == "https"
        self.host = p.hostname or ""
        self.port = p.port or (443 if self.https else 80)
        self.path = p.path


@dataclass
class _Lease:
    """One slot on a server for one exchange; what happened decides how the slot is given back."""

    server: Server
    answered: bool = False  # an HTTP answer came back (any status)
    connection_failed: str = ""  # why no HTTP answer came back (connection trouble), if so
    avoid_for: float = 0.0  # seconds to prefer other servers afterwards


class Client:
    """HTTP to OpenAI-compatible servers: one exchange per request, every socket in flight tracked for abort."""

    def __init__(self, api_key: str | None = None):
        self._api_key = api_key or None  # sent as a Bearer token, never logged
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self._conns: set[http.client.HTTPConnection] = set()

    @property
    def has_key(self) -> bool:
        return self._api_key is not None

    def _headers(self, body: bytes | None) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "vlparse"}
        if body is not None:
            h["Content-Type"] = "application/json"
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    def exchange(self, server: Server, method: str, path: str, body: bytes | None,
                 timeout: float) -> tuple[int, Any, bytes]:
        """One HTTP exchange; connection trouble and timeouts raise :class:`_Transient`."""
        cls = http.client.HTTPSConnection if server.https else http.client.HTTPConnection
        conn = cls(server.host, server.port, timeout=timeout)
        with self._lock:
            if self.stopped.is_set():
                raise _Stopped()
            self._conns.add(conn)
        try:
            conn.request(method, server.path + path, body=body, headers=self._headers(body))
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        except (OSError, http.client.HTTPException) as e:
            if self.stopped.is_set():
                raise _Stopped() from None
            timed_out = isinstance(e, (socket.timeout, TimeoutError))
            raise _Transient(describe_oserror(e, timeout, server.host), connection=not timed_out) from None
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def auth_message(self, server: Server, status: int) -> str:
        hint = "check --api-key / VLPARSE_API_KEY" if self.has_key else "give the key with --api-key or VLPARSE_API_KEY"
        return f"the server at {server.url} refused the request (HTTP {status}): {hint}"

    def models(self, server: Server, timeout: float) -> list[dict]:
        """``GET {base}/models``: the served models (dicts with at least ``id``); one-line BackendErrors."""
        try:
            status, _, data = self.exchange(server, "GET", "/models", None, timeout)
        except _Transient as e:
            raise ServerUnreachable(f"cannot reach the server at {server.url}: {e.reason}") from None
        if status in (401, 403):
            raise BackendError(self.auth_message(server, status))
        if status == 404:
            raise BackendError(f"{server.url} is not an OpenAI-compatible API (GET {server.url}/models: HTTP 404); "
                               "the base URL usually ends in /v1")
        if status != 200:
            raise BackendError(f"the server at {server.url} answered GET /models with HTTP {status}: "
                               f"{error_message(data)}")
        try:
            listed = json.loads(data)["data"]
            return [m for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (ValueError, KeyError, TypeError):
            raise BackendError(f"the server at {server.url} answered GET /models with something that is not an "
                               "OpenAI model list") from None

    def abort(self) -> None:
        """Refuse new exchanges and close every socket in flight (the servers then drop those generations)."""
        with self._lock:
            self.stopped.set()
            conns = list(self._conns)
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def served_models(base_url: str, api_key: str | None = None, timeout: float = 15.0) -> list[str]:
    """The names a server serves (``GET {base}/models``), e.g. to pick the family before a run."""
    return [m["id"] for m in Client(api_key).models(Server(normalise_base_url(base_url)), timeout)]


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, family: Family, base_urls: Sequence[str], api_model: str | None = None,
                 api_key: str | None = None, *, concurrency: int = CONCURRENCY, timeout: float = TIMEOUT, retries: int | None = None,
                 backoff: float | None = None, max_backoff: float | None = None, image_format: str = "png",
                 check_timeout: float = 15.0, verify: bool = True):
        if not base_urls:
            raise UsageError("--backend openai needs --base-url (e.g. --base-url http://127.0.0.1:8000/v1)")
        if concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1 (got {concurrency})")
        if image_format not in ("png", "webp"):
            raise UsageError(f"image format must be png or webp (got '{image_format}')")
        urls = list(dict.fromkeys(normalise_base_url(u) for u in base_urls))
        self.family = family
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.retries = RETRIES if retries is None else retries
        self.backoff = BACKOFF if backoff is None else backoff
        self.max_backoff = MAX_BACKOFF if max_backoff is None else max_backoff
        self.image_format = image_format
        self.client = Client(api_key)
        self._stop = self.client.stopped
        self._rng = random.Random()
        self._lock = threading.Condition()  # guards the servers' slot counts
        self._last_failure = ""
        #: whether the server takes per-request mm_processor_kwargs (None: not known yet)
        self.kwargs_accepted: bool | None = None
        #: whether answers carry usage.prompt_tokens (None: not known yet); ``verify``: check the image tokens
        self.usage_reported: bool | None = None
        self.verify = verify
        self._calibrating = threading.Lock()
        self._prompt_text: dict[tuple[str | None, str], int] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.servers = [Server(u) for u in urls]
        self.context_len: int | None = None
        self.model_name = self._discover(api_model, min(check_timeout, self.timeout))
        # one request per slot: enough to keep every server busy, while the runner's window of rendered pages
        # (batch_size x window page images in memory) stays bounded when many servers are used
        self.batch_size = self.concurrency * len(self.servers)

    def _discover(self, api_model: str | None, timeout: float) -> str:
        with ThreadPoolExecutor(max_workers=min(16, len(self.servers)), thread_name_prefix="vlparse-models") as ex:
            futures = [ex.submit(self.client.models, s, timeout) for s in self.servers]
        served: dict[str, list[dict]] = {}
        unreachable: list[ServerUnreachable] = []
        for server, fut in zip(self.servers, futures):
            try:
                served[server.url] = fut.result()
            except ServerUnreachable as e:
                unreachable.append(e)
        if not served:
            if len(unreachable) == 1:
                raise unreachable[0]
            raise BackendError(f"cannot reach any of the {len(self.servers)} servers: {unreachable[0].message}")
        for e in unreachable:
            console.warn(f"{e.message}; going on with {len(served)} of {len(self.servers)} servers")
        self.servers = [s for s in self.servers if s.url in served]
        model = api_model or self._only_model(served)
        for url, models in served.items():
            names = [m["id"] for m in models]
            if model not in names:
                listing = ", ".join(names) if names else "none"
                raise BackendError(f"the server at {url} does not serve the model '{model}' (it serves: {listing}); "
                                   "pick one with --api-model")
            limit = next((m.get("max_model_len") for m in models if m["id"] == model), None)
            if isinstance(limit, int) and limit > 0:
                self.context_len = limit if self.context_len is None else min(self.context_len, limit)
        guess = guess_family_from_name(model)
        if guess is not None and guess.name != self.family.name:
            console.warn(f"the served model '{model}' looks like {guess.title}, but the run parses answers as "
                         f"{self.family.title}: coordinates will be wrong unless --family is right")
        return model

    @staticmethod
    def _only_model(served: dict[str, list[dict]]) -> str:
        names = {url: [m["id"] for m in models] for url, models in served.items()}
        for url, listed in names.items():
            if not listed:
                raise BackendError(f"the server at {url} serves no model")
            if len(listed) > 1:
                raise BackendError(f"the server at {url} serves several models ({', '.join(listed)}); "
                                   "choose one with --api-model")
        distinct = sorted({listed[0] for listed in names.values()})
        if len(distinct) > 1:
            raise BackendError(f"the servers serve different models ({', '.join(distinct)}); "
                               "choose one with --api-model")
        return distinct[0]

    # -- scheduling ------------------------------------------------------------------------------
    @contextmanager
    def _slot(self) -> Iterator[_Lease]:
        """A free slot on the least-loaded live server, held for one exchange (see :class:`_Lease`)."""
        lease = _Lease(self._acquire())
        try:
            yield lease
        finally:
            self._release(lease)

    def _acquire(self) -> Server:
        """The least-loaded live server with a free slot (servers that just failed only as a last resort).

        When every server is dead (:data:`DEAD_AFTER` connection failures in a row, for :data:`DEAD_FOR`
        seconds) the run stops: :class:`ServerUnreachable`, exit 5, finished pages kept for resume.
        """
        with self._lock:
            while True:
                if self._stop.is_set():
                    raise _Stopped()
                now = time.monotonic()
                live = [s for s in self.servers if s.dead_until <= now]
                if not live:
                    which = self.servers[0].url if len(self.servers) == 1 else f"all {len(self.servers)} servers"
                    raise ServerUnreachable(
                        f"{which} stopped answering ({DEAD_AFTER} failed connections in a row; last: "
                        f"{self._last_failure}): finished pages are kept, rerun the same command to resume")
                free = [s for s in live if s.in_flight < self.concurrency]
                if free:
                    pick = min(free, key=lambda s: (s.avoid_until > now, s.in_flight, s.sent))
                    pick.in_flight += 1
                    pick.sent += 1
                    return pick
                self._lock.wait(0.5)

    def _release(self, lease: _Lease) -> None:
        server = lease.server
        with self._lock:
            server.in_flight -= 1
            if lease.avoid_for:
                server.avoid_until = max(server.avoid_until, time.monotonic() + lease.avoid_for)
            if lease.connection_failed:  # the circuit breaker: consecutive connection failures
                server.failures += 1
                self._last_failure = f"{server.url}: {lease.connection_failed}"
                if server.failures >= DEAD_AFTER and server.dead_until <= time.monotonic():
                    server.dead_until = time.monotonic() + DEAD_FOR
                    server.failures = 0
                    console.warn(f"the server at {server.url} stopped answering ({lease.connection_failed}); "
                                 f"leaving it alone for {DEAD_FOR:g} s")
            elif lease.answered:  # any HTTP answer, 429 and 5xx included, proves the server is there
                server.failures = 0
            self._lock.notify_all()

    # -- one exchange, with retries -----------------------------------------------------------------
    def _send(self, key: str, body: dict[str, Any], mm: dict[str, int] | None, parse=parse_completion):
        """POST one chat request, retried on 429/5xx/connection trouble: ``(server, parse(answer), attempts)``.

        A refusal of the per-request processor kwargs is remembered and the request resent without them (not
        counted as an attempt). Other refusals raise :class:`_Refused`, spent retries :class:`_Spent`;
        a rejected key or a missing endpoint dooms the run (:class:`BackendError`).
        """
        attempts = self.retries + 1
        attempt = 0
        reason = ""
        while attempt < attempts:
            attempt += 1
            send_mm = mm if self.kwargs_accepted is not False else None
            payload = json.dumps({**body, "mm_processor_kwargs": send_mm} if send_mm else body).encode("utf-8")
            transient = False
            with self._slot() as lease:
                server = lease.server
                try:
                    status, headers, data = self.client.exchange(server, "POST", "/chat/completions", payload,
                                                                 self.timeout)
                    lease.answered = True
                    if status == 200:
                        try:
                            result = parse(json.loads(data))
                        except (ValueError, TypeError) as e:  # includes JSON errors: a garbled answer, ask again
                            raise _Transient(f"unusable answer: {e}") from None
                        if send_mm and self.kwargs_accepted is None:
                            self.kwargs_accepted = True
                        return server, result, attempt
                    if status in RETRY_STATUS:
                        raise _Transient(f"HTTP {status}: {error_message(data)}", _retry_after(headers))
                except _Transient as e:
                    transient = True
                    reason = f"{server.url}: {e.reason}"
                    delay = lease.avoid_for = retry_delay(attempt, self.backoff, self.max_backoff, e.retry_after,
                                                          self._rng)
                    lease.connection_failed = e.reason if e.connection else ""
            if transient:
                if attempt < attempts:
                    console.verbose(f"{key}: {reason}; retrying in {delay:.1f} s ({attempt}/{attempts - 1})")
                    if self._stop.wait(delay):
                        raise _Stopped()
                continue
            message = error_message(data)
            if status == 400 and send_mm and kwargs_refused(message):
                self._refuse_kwargs(message)
                attempt -= 1
                continue
            if status in (401, 403):
                raise BackendError(self.client.auth_message(server, status))
            if status == 404:
                raise BackendError(f"the server at {server.url} answered POST /chat/completions with HTTP 404: "
                                   f"{message}")
            raise _Refused(f"the server refused the request (HTTP {status}): {message}", server.url, attempt)
        raise _Spent(f"no answer after {attempts} attempts (last: {reason})", attempts)

    def _refuse_kwargs(self, message: str) -> None:
        with self._lock:
            first = self.kwargs_accepted is not False
            self.kwargs_accepted = False
        if first:
            console.warn("the server refuses per-request pixel budgets (vLLM: start it with "
                         "--trust-request-mm-kwargs); sending pages as they are and checking from the token counts "
                         "that the server does not resize them")

    # -- exactness: the server must see the page at the size vlparse rendered it ---------------------
    def _text_tokens(self, request: Request) -> int | None:
        """The prompt's text tokens (chat template included) as the server counts them, or None when unknown.

        Measured once per prompt with a calibration request (``max_tokens`` 1) whose image has a known number of
        image tokens: ``usage.prompt_tokens`` minus that grid.
        """
        if self.family.fixed_size or not self.verify:
            return None
        key = (request.prompt.system, request.prompt.user)
        with self._calibrating:
            if key in self._prompt_text:
                return self._prompt_text[key]
            if self.usage_reported is False:
                return None
            image = calibration_image(self.family, request.min_pixels)
            probe = Request("calibration", image, request.prompt, 1, 0.0, 1.0, request.min_pixels,
                            request.max_pixels)
            body = chat_body(probe, self.family, self.model_name, encode_image(image, self.image_format), 1)
            mm = body.pop("mm_processor_kwargs", None)
            _, (_, _, _, prompt_tokens), _ = self._send("calibration", body, mm)
            if prompt_tokens is None:
                self._no_usage()
                return None
            self.usage_reported = True
            grid = grid_tokens(self.family, image.size)
            text = int(prompt_tokens) - grid
            if text <= 0:
                raise BackendError(self._resized_message(image.size, grid, int(prompt_tokens), None))
            self._prompt_text[key] = text
            return text

    def _no_usage(self) -> None:
        with self._lock:
            first = self.usage_reported is not False
            self.usage_reported = False
        if first:
            console.warn("the server reports no token usage: vlparse cannot check that it kept the page images at "
                         "their size (exactness of the coordinates unverified)")

    def _verify(self, request: Request, prompt_tokens: int | None, text_tokens: int | None) -> None:
        if self.family.fixed_size or not self.verify:
            return
        if prompt_tokens is None:
            self._no_usage()
            return
        if text_tokens is None:
            return
        grid = grid_tokens(self.family, request.image.size)
        if int(prompt_tokens) - text_tokens != grid:
            raise BackendError(self._resized_message(request.image.size, grid, int(prompt_tokens) - text_tokens,
                                                     request))

    def _resized_message(self, size: tuple[int, int], grid: int, got: int, request: Request | None) -> str:
        lo = request.min_pixels if request and request.min_pixels else self.family.default_min_pixels()
        hi = request.max_pixels if request and request.max_pixels else self.family.default_max_pixels("doc")
        flag = f"--mm-processor-kwargs '{{\"min_pixels\": {lo}, \"max_pixels\": {hi}}}'"
        what = f"{request.key} " if request else "a calibration image "
        head = (f"the server resized the page images: {what}was sent as {size[0]}x{size[1]} ({grid} image tokens) "
                f"but the server made {got} image tokens of it, so boxes would be misplaced; ")
        if self.kwargs_accepted is False:
            return head + f"restart the server with {flag} (or with --trust-request-mm-kwargs)"
        return head + (f"check --family ({self.family.title}: {self.family.factor}-pixel grid) or restart the "
                       f"server with {flag}")

    # -- one request --------------------------------------------------------------------------------
    def _max_tokens(self, request: Request, text_tokens: int | None = None) -> int:
        if self.context_len is None:
            return request.max_new_tokens
        return min(request.max_new_tokens, self.context_len - prompt_tokens_needed(self.family, request, text_tokens))

    def _complete(self, request: Request) -> Answer:
        try:
            text_tokens = self._text_tokens(request)
        except (_Refused, _Spent) as e:
            return Answer(request.key, "", "error", error=f"measuring the prompt's tokens failed: {e.message}")
        max_tokens = self._max_tokens(request, text_tokens)
        if max_tokens < 16:
            need = prompt_tokens_needed(self.family, request, text_tokens)
            return Answer(request.key, "", "error", error=(
                f"the page needs {'about ' if text_tokens is None else ''}{need} tokens of context but the server's "
                f"max_model_len is {self.context_len}: restart it with a larger --max-model-len or use a smaller "
                "--max-pixels"))
        body = chat_body(request, self.family, self.model_name, encode_image(request.image, self.image_format),
                         max_tokens)
        mm = body.pop("mm_processor_kwargs", None)
        try:
            server, (text, finish, new_tokens, prompt_tokens), attempts = self._send(request.key, body, mm)
        except _Refused as e:
            return Answer(request.key, "", "error", error=e.message, meta={"server": e.server, "attempts": e.attempts})
        except _Spent as e:
            return Answer(request.key, "", "error", error=e.message, meta={"attempts": e.attempts})
        self._verify(request, prompt_tokens, text_tokens)
        meta: dict[str, Any] = {"server": server.url, "attempts": attempts}
        if prompt_tokens is not None:
            meta["prompt_tokens"] = prompt_tokens
        if max_tokens < request.max_new_tokens:
            meta["max_tokens"] = max_tokens  # lowered to fit the server's context
        return Answer(request.key, text, finish, new_tokens, meta=meta)

    # -- the interface ---------------------------------------------------------------------------
    streaming = True

    def _executor(self) -> ThreadPoolExecutor:
        if self._stop.is_set():
            raise BackendError("the server backend was closed")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency * len(self.servers),
                                            thread_name_prefix="vlparse-openai")
        return self._pool

    def submit(self, request: Request) -> Future:
        """One request; it waits for a free server slot inside the pool, so the caller never blocks."""
        return self._executor().submit(self._complete_or_stop, request)

    def _complete_or_stop(self, request: Request) -> Answer:
        try:
            return self._complete(request)
        except _Stopped:
            raise BackendError("the server backend was stopped while requests were in flight") from None

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if not requests:
            return []
        pool = self._executor()
        futures = [pool.submit(self._complete, r) for r in requests]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                if f in done and f.exception() is not None:
                    err = f.exception()
                    if isinstance(err, _Stopped):
                        raise BackendError("the server backend was stopped while requests were in flight")
                    raise err  # type: ignore[misc]
            return [f.result() for f in futures]
        except BaseException:
            self._abort()
            for f in futures:
                f.cancel()
            raise

    def _abort(self) -> None:
        self.client.abort()
        with self._lock:
            self._lock.notify_all()  # wake requests waiting for a slot: they see the stop and end

    def close(self) -> None:
        self._abort()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            # the workers are idle (or aborted just now): wait for them, boundedly, so no thread outlives the call
            deadline = time.monotonic() + 5.0
            for t in list(getattr(pool, "_threads", ())):
                if t is not threading.current_thread():
                    t.join(max(0.0, deadline - time.monotonic()))
