"""AI backends: the built-in integer model, and the OpenAI client against a local server.

The local server (``ChatServer``) is the only test double: a ``ThreadingHTTPServer`` on
127.0.0.1 with an ephemeral port that checks each request the way an OpenAI-compatible
server would and answers a chat completion; its ``mode`` makes it fail in the ways a real
server can.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chain.hashing import H
from node.provider.backends import (
    MAX_TINY_TOKENS,
    SERVED_MODEL_TAG,
    VOCABULARY,
    AiBackend,
    AiOutput,
    BackendError,
    OpenAiBackend,
    TinyModelBackend,
    backend_from_args,
    chat_completions_url,
)

PROMPT = "Write one line about the sea."
GOLDEN_TEXT = b"This iron this over still star hill slow."
"""The tiny model's answer to ``PROMPT`` as model ``tiny-1`` with ``max_tokens`` 8."""
GOLDEN_MODEL_DIGEST = "5d70d08d416d82f219e61318ef4e84414557e53ada05d47b0c746b1a80f042c6"
"""``model_digest`` of model ``tiny-1``."""

# -- the built-in tiny model -----------------------------------------------------------------


def words_of(out: AiOutput) -> list[str]:
    return out.text.decode("utf-8").rstrip(".").lower().split(" ")


def test_tiny_model_is_deterministic_across_instances() -> None:
    a = TinyModelBackend().run("tiny-1", PROMPT, 32)
    b = TinyModelBackend().run("tiny-1", PROMPT, 32)
    assert (a.text, a.model_digest) == (b.text, b.model_digest)
    assert len(a.model_digest) == 32
    assert isinstance(a.runtime_ms, int) and a.runtime_ms >= 1


def test_tiny_model_golden_output() -> None:
    """Pinned bytes: integer-only arithmetic gives these on every machine."""
    out = TinyModelBackend().run("tiny-1", PROMPT, 8)
    assert out.text == GOLDEN_TEXT
    assert out.model_digest.hex() == GOLDEN_MODEL_DIGEST


def test_tiny_model_depends_on_prompt_and_model() -> None:
    backend = TinyModelBackend()
    base = backend.run("tiny-1", PROMPT, 16)
    assert backend.run("tiny-1", PROMPT + " ", 16).text != base.text
    assert backend.run("tiny-1", "Write one line about the land.", 16).text != base.text
    other = backend.run("tiny-2", PROMPT, 16)
    assert other.text != base.text
    assert other.model_digest != base.model_digest
    # The digest names the weights, not the job.
    assert backend.run("tiny-1", "something else", 3).model_digest == base.model_digest


@pytest.mark.parametrize("max_tokens", [1, 2, 7, 64, 300])
def test_tiny_model_emits_exactly_max_tokens_vocabulary_words(max_tokens: int) -> None:
    out = TinyModelBackend().run("tiny-1", PROMPT, max_tokens)
    text = out.text.decode("utf-8")
    assert text[0].isupper() and text.endswith(".")
    words = words_of(out)
    assert len(words) == max_tokens
    assert all(w in VOCABULARY for w in words)


def test_tiny_model_is_not_an_echo() -> None:
    prompt = "zebra xylophone quasar zebra xylophone quasar"
    out = TinyModelBackend().run("tiny-1", prompt, 6)
    assert out.text != prompt.encode()
    assert not {"zebra", "xylophone", "quasar"} & set(words_of(out))


def test_tiny_model_any_prompt_gives_utf8() -> None:
    for prompt in ("", "é 日本語 🙂", "\x00\xff", "a" * 10_000):
        out = TinyModelBackend().run("any/model:name", prompt, 5)
        assert len(words_of(out)) == 5
        out.text.decode("utf-8")


def test_tiny_model_rejects_bad_max_tokens() -> None:
    backend = TinyModelBackend()
    for bad in (0, -1, MAX_TINY_TOKENS + 1):
        with pytest.raises(BackendError, match="max_tokens"):
            backend.run("tiny-1", PROMPT, bad)


def test_tiny_model_is_fast() -> None:
    """64 words with weights not yet derived (a new model name) within 50 ms."""
    best = min(_timed(f"speed-{i}") for i in range(3))
    assert best < 0.050


def _timed(model: str) -> float:
    start = time.perf_counter()
    TinyModelBackend().run(model, PROMPT * 20, 64)
    return time.perf_counter() - start


# -- a local OpenAI-compatible server -------------------------------------------------------


class ChatServer(ThreadingHTTPServer):
    """An OpenAI-compatible chat-completions server on 127.0.0.1 for one test."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.mode = "ok"
        """ok | no-model | 500 | malformed | no-choices | slow"""
        self.served_model = "served-model-2025-01-01"
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _invalid(self, message: str) -> None:
        error = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        self._send(400, json.dumps(error).encode())

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
            return
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self._invalid("content type must be application/json")
            return
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            req = json.loads(raw)
        except ValueError:
            self._invalid("body is not JSON")
            return
        problem = check_request(req)
        if problem:
            self._invalid(problem)
            return
        self.server.requests.append(req)
        self.server.headers_seen.append(dict(self.headers.items()))
        mode = self.server.mode
        if mode == "500":
            self._send(500, b'{"error": {"message": "The server had an error\\nwhile processing"}}')
            return
        if mode == "malformed":
            self._send(200, b'{"id": "chatcmpl-1", "choices": [')
            return
        if mode == "no-choices":
            self._send(
                200, json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": []}).encode()
            )
            return
        if mode == "slow":
            time.sleep(0.5)
        prompt = req["messages"][0]["content"]
        content = " ".join(reversed(prompt.split())) + " — ok"
        answer: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_735_689_600,
            "model": self.server.served_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 3, "total_tokens": 9},
        }
        if mode == "no-model":
            del answer["model"]
        try:
            self._send(200, json.dumps(answer).encode())
        except OSError:
            pass  # the client gave up (the timeout test)


def check_request(req: Any) -> str | None:
    """Why ``req`` is not a valid chat-completion request, or None."""
    if not isinstance(req, dict):
        return "body must be an object"
    if not isinstance(req.get("model"), str) or not req["model"]:
        return "model must be a non-empty string"
    messages = req.get("messages")
    if (
        not isinstance(messages, list)
        or len(messages) != 1
        or set(messages[0]) != {"role", "content"}
        or messages[0]["role"] != "user"
        or not isinstance(messages[0]["content"], str)
    ):
        return "messages must be one user message"
    max_tokens = req.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        return "max_tokens must be a positive integer"
    if req.get("temperature") != 0:
        return "expected temperature 0"
    if set(req) != {"model", "messages", "max_tokens", "temperature"}:
        return f"unexpected fields {sorted(set(req))}"
    return None


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def test_openai_success(server: ChatServer) -> None:
    out = OpenAiBackend(server.url).run("llama-3-8b", "hello big world", 17)
    assert server.requests == [
        {
            "model": "llama-3-8b",
            "messages": [{"role": "user", "content": "hello big world"}],
            "max_tokens": 17,
            "temperature": 0,
        }
    ]
    assert out.text == "world big hello — ok".encode()
    assert out.model_digest == H(SERVED_MODEL_TAG, b"served-model-2025-01-01")
    assert isinstance(out.runtime_ms, int) and out.runtime_ms >= 1
    assert "Authorization" not in server.headers_seen[0]


def test_openai_digest_falls_back_to_the_requested_name(server: ChatServer) -> None:
    server.mode = "no-model"
    out = OpenAiBackend(server.url).run("llama-3-8b", "hi", 4)
    assert out.model_digest == H(SERVED_MODEL_TAG, b"llama-3-8b")


def test_openai_model_override_and_api_key(server: ChatServer) -> None:
    backend = OpenAiBackend(server.url, model="local-name", api_key="sk-test")
    backend.run("chain-model", "hi", 4)
    assert server.requests[0]["model"] == "local-name"
    assert server.headers_seen[0]["Authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", "/"])
def test_openai_endpoint_with_v1(server: ChatServer, suffix: str) -> None:
    out = OpenAiBackend(server.url + suffix).run("m", "a b", 2)
    assert out.text == "b a — ok".encode()


def test_openai_http_500(server: ChatServer) -> None:
    server.mode = "500"
    with pytest.raises(BackendError, match="HTTP 500") as info:
        OpenAiBackend(server.url).run("m", "hi", 4)
    assert "\n" not in str(info.value)


def test_openai_rejected_request_is_reported(server: ChatServer) -> None:
    with pytest.raises(BackendError, match="HTTP 404"):
        OpenAiBackend(server.url + "/v2").run("m", "hi", 4)


@pytest.mark.parametrize("mode", ["malformed", "no-choices"])
def test_openai_malformed_body(server: ChatServer, mode: str) -> None:
    server.mode = mode
    with pytest.raises(BackendError) as info:
        OpenAiBackend(server.url).run("m", "hi", 4)
    assert "\n" not in str(info.value)


def test_openai_timeout(server: ChatServer) -> None:
    server.mode = "slow"
    with pytest.raises(BackendError, match="Timeout"):
        OpenAiBackend(server.url, timeout=0.1).run("m", "hi", 4)


def test_openai_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError, match="ConnectError") as info:
        OpenAiBackend(f"http://127.0.0.1:{port}").run("m", "hi", 4)
    assert "\n" not in str(info.value)


def test_openai_rejects_bad_arguments() -> None:
    with pytest.raises(BackendError, match="endpoint"):
        OpenAiBackend("127.0.0.1:8000")
    with pytest.raises(BackendError, match="max_tokens"):
        OpenAiBackend("http://127.0.0.1:1").run("m", "hi", 0)


def test_chat_completions_url() -> None:
    for endpoint in ("http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"):
        assert chat_completions_url(endpoint) == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://h/api/v1") == "https://h/api/v1/chat/completions"


# -- the factory ------------------------------------------------------------------------------


def test_backend_from_args() -> None:
    builtin: AiBackend = backend_from_args("builtin", endpoint=None, model=None)
    assert isinstance(builtin, TinyModelBackend) and builtin.name == "builtin"
    openai = backend_from_args("openai", endpoint="http://127.0.0.1:9/v1", model="x")
    assert isinstance(openai, OpenAiBackend) and openai.name == "openai"
    assert openai.url == "http://127.0.0.1:9/v1/chat/completions" and openai.model == "x"
    with pytest.raises(BackendError, match="--endpoint"):
        backend_from_args("openai", endpoint=None, model="x")
    with pytest.raises(BackendError, match="unknown backend"):
        backend_from_args("gpu", endpoint=None, model=None)
    with pytest.raises(BackendError, match="builtin"):
        backend_from_args("builtin", endpoint="http://127.0.0.1:9", model=None)
