"""AI backends of the reference provider: one ``AiBackend`` interface, two implementations.

A backend turns a job's ``(model, prompt, max_tokens)`` into an :class:`AiOutput`: the
output bytes, a 32-byte digest naming the model that produced them, and the wall time it
took.  Jobs with replicas compare output digests, so a backend two providers both run must
give bit-identical bytes for the same job.

``TinyModelBackend`` (``--backend builtin``, the devnet default)
    A tiny fixed-weight language model computed with integer arithmetic only, so its output
    is the same on every machine.  Architecture, for ``D = 64`` state lanes, ``F = 128``
    hidden lanes and the ``V = 256`` words of ``VOCABULARY``:

    * Weights.  Every weight is an integer in ``[-8, 7]``: the low nibble of one byte, minus
      8, of the SHA3-256 counter-mode stream ``block_j = SHA3-256(WEIGHT_TAG ‖ len(m) ‖ m ‖
      j)`` where ``m`` is the UTF-8 model name, ``len(m)`` its length as 4 big-endian bytes
      and ``j`` the block index as 8 big-endian bytes.  The stream fills, in order, the byte
      embedding ``E`` (256×D), the byte-pair embedding ``P`` (256×D), the word embedding
      ``T`` (V×D), the layers ``W1`` (D×F) and ``W2`` (F×D) and the read-out ``U`` (D×V),
      one byte per weight.  ``model_digest = H(DIGEST_TAG, stream bytes)`` (``chain.hashing.H``).
    * Prompt.  With ``b_0 .. b_{L-1}`` the prompt's UTF-8 bytes, ``x = Σ E[b_i] + Σ P[(31·b_i
      + b_{i+1}) mod 256]`` (the second sum over adjacent pairs, so word order matters), and
      the prompt context is ``c = clip(4·x // (isqrt(L) + 1), -127, 127)``; the first state
      is ``s = c``.  An empty prompt gives ``c = 0``.
    * Step (two layers).  ``a = clip((s·W1) >> 6, 0, 127)`` (a clipped ReLU), ``r = (a·W2)
      >> 8``, and the next state is ``s' = clip((s >> 1) + r + c + T[w], -127, 127)`` where
      ``w`` is the word emitted last (no ``T`` term before the first word).  ``>>`` is the
      arithmetic (flooring) shift of int64 and ``//`` floors.
    * Decoding.  The logits are ``s'·U - 4096·n`` where ``n[v]`` counts how often word ``v``
      was already emitted (a repetition penalty); the next word is the argmax, the lowest
      index on a tie.  Exactly ``max_tokens`` words are emitted, joined by single spaces,
      the first capitalized and a full stop after the last.

    For a prompt of ``L`` bytes every intermediate value is below ``64·L + 2**25`` in
    magnitude, far inside int64.  It serves any model name; different names give different
    weights and so different answers.

``OpenAiBackend`` (``--backend openai --endpoint URL --model NAME``)
    A client of an OpenAI-compatible chat-completions server (``POST {endpoint}/v1/chat/
    completions`` with ``temperature`` 0).  ``model_digest = H(SERVED_MODEL_TAG, name)``
    for the model name the server reports serving (its ``model`` field, else the name
    asked for).  Its output is only as reproducible as the server.

Every failure to produce an output (an unknown backend, an unreachable server, an HTTP
error, a body that is not a chat completion) raises :class:`BackendError` with a one-line
message.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from chain.hashing import H

WEIGHT_TAG: Final[bytes] = b"cairn/provider/tiny-lm/weights/v1"
DIGEST_TAG: Final[bytes] = b"cairn/provider/tiny-lm/model/v1"
SERVED_MODEL_TAG: Final[bytes] = b"cairn/provider/served-model/v1"
MAX_TINY_TOKENS: Final[int] = 4096
"""The most words the tiny model emits for one job."""

STATE: Final[int] = 64
HIDDEN: Final[int] = 128
PENALTY: Final[int] = 4096
MAX_PROMPT_BYTES: Final[int] = 1 << 24
"""The longest prompt the tiny model reads (16 MiB, which keeps every sum far inside int64)."""

VOCABULARY: Final[tuple[str, ...]] = tuple(
    """
    the a one every some many few no this that
    river mountain forest stone garden city harbor bridge tower window
    door road field valley island ocean desert meadow village market
    light shadow fire water wind rain snow thunder cloud star
    moon sun morning evening night winter summer spring autumn season
    bird horse wolf fox bear fish whale owl bee lion
    king queen child mother father friend stranger traveler farmer sailor
    painter singer doctor teacher builder merchant soldier poet scholar keeper
    book letter song story map key lamp clock bell ship
    wheel coin bread salt honey wine apple seed root leaf
    walks runs sings builds carries finds keeps opens closes follows
    watches waits listens speaks remembers forgets gives takes holds turns
    grows falls rises burns shines breaks mends crosses climbs sleeps
    dreams wakes counts learns teaches writes reads draws hides seeks
    quiet bright dark warm cold old young small great long
    slow swift gentle brave calm wild green golden silver hollow
    distant hidden open broken ancient patient simple strange careful honest
    and or but while because after before until since when
    over under beyond beside between through across toward within without
    softly slowly always never often again together alone almost already
    here there somewhere nowhere today tomorrow yesterday still soon far
    truth memory silence promise journey question answer reason chance purpose
    path shore hill lake well wall roof table chair cup
    thread needle rope net basket candle mirror ladder gate fence
    glass iron copper wood paper cloth wool clay ash dust
    sky earth word voice name home
    """.split()
)

_BYTES_PER_MODEL: Final[int] = (
    256 * STATE * 2 + len(VOCABULARY) * STATE + STATE * HIDDEN * 2 + STATE * len(VOCABULARY)
)

IntMatrix = npt.NDArray[np.int64]


class BackendError(Exception):
    """A backend could not produce an output; the message is one line."""


@dataclass(frozen=True, slots=True)
class AiOutput:
    """What a backend produced for one job."""

    text: bytes
    """The output bytes (UTF-8 text)."""
    model_digest: bytes
    """32 bytes: digest of the weights or model identity that produced ``text``."""
    runtime_ms: int
    """Measured wall time in integer milliseconds, at least 1."""

    def __post_init__(self) -> None:
        if len(self.model_digest) != 32:
            raise ValueError(f"model_digest must be 32 bytes, got {len(self.model_digest)}")
        if self.runtime_ms < 1:
            raise ValueError(f"runtime_ms must be at least 1, got {self.runtime_ms}")


class AiBackend(Protocol):
    """Runs one AI job: ``run(model, prompt, max_tokens)``; raises ``BackendError`` on failure."""

    name: str

    def run(self, model: str, prompt: str, max_tokens: int) -> AiOutput: ...


def _elapsed_ms(start_ns: int) -> int:
    """Whole milliseconds since ``start_ns`` (``perf_counter_ns``), rounded up, at least 1."""
    return max(1, -(-(time.perf_counter_ns() - start_ns) // 1_000_000))


def _check_max_tokens(max_tokens: int, limit: int | None = None) -> None:
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BackendError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if limit is not None and max_tokens > limit:
        raise BackendError(f"max_tokens {max_tokens} is above this backend's limit of {limit}")


# -- the built-in tiny model ------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _TinyWeights:
    byte_embed: IntMatrix
    pair_embed: IntMatrix
    word_embed: IntMatrix
    w1: IntMatrix
    w2: IntMatrix
    readout: IntMatrix
    digest: bytes


def _weight_stream(model: str, n: int) -> bytes:
    """The first ``n`` bytes of the SHA3-256 counter-mode stream of ``model`` (module docstring)."""
    name = model.encode("utf-8")
    prefix = WEIGHT_TAG + len(name).to_bytes(4, "big") + name
    blocks = (hashlib.sha3_256(prefix + j.to_bytes(8, "big")).digest() for j in range(-(-n // 32)))
    return b"".join(blocks)[:n]


@lru_cache(maxsize=16)
def _tiny_weights(model: str) -> _TinyWeights:
    raw = _weight_stream(model, _BYTES_PER_MODEL)
    values = (np.frombuffer(raw, dtype=np.uint8).astype(np.int64) & 15) - 8
    vocab = len(VOCABULARY)
    shapes = [(256, STATE), (256, STATE), (vocab, STATE), (STATE, HIDDEN), (HIDDEN, STATE), (STATE, vocab)]
    mats: list[IntMatrix] = []
    at = 0
    for rows, cols in shapes:
        mat = values[at : at + rows * cols].reshape(rows, cols)
        mat.setflags(write=False)
        mats.append(mat)
        at += rows * cols
    assert at == values.size
    byte_embed, pair_embed, word_embed, w1, w2, readout = mats
    return _TinyWeights(byte_embed, pair_embed, word_embed, w1, w2, readout, H(DIGEST_TAG, raw))


def _prompt_state(weights: _TinyWeights, prompt: bytes) -> IntMatrix:
    """The prompt context ``c``: byte and byte-pair embeddings, scaled and clipped."""
    if not prompt:
        return np.zeros(STATE, dtype=np.int64)
    b = np.frombuffer(prompt, dtype=np.uint8).astype(np.int64)
    x = weights.byte_embed[b].sum(axis=0)
    if b.size > 1:
        x = x + weights.pair_embed[(31 * b[:-1] + b[1:]) & 255].sum(axis=0)
    return np.clip((4 * x) // (math.isqrt(b.size) + 1), -127, 127)


def tiny_generate(model: str, prompt: str, max_tokens: int) -> tuple[str, bytes]:
    """The tiny model's text for ``prompt`` and its model digest (module docstring); pure."""
    _check_max_tokens(max_tokens, MAX_TINY_TOKENS)
    weights = _tiny_weights(model)
    data = prompt.encode("utf-8")
    if len(data) > MAX_PROMPT_BYTES:
        raise BackendError(
            f"prompt of {len(data)} bytes is above the builtin model's limit of {MAX_PROMPT_BYTES}"
        )
    context = _prompt_state(weights, data)
    s = context
    counts = np.zeros(len(VOCABULARY), dtype=np.int64)
    words: list[str] = []
    last: int | None = None
    for _ in range(max_tokens):
        a = np.clip((s @ weights.w1) >> 6, 0, 127)
        r = (a @ weights.w2) >> 8
        s = (s >> 1) + r + context
        if last is not None:
            s = s + weights.word_embed[last]
        s = np.clip(s, -127, 127)
        logits = s @ weights.readout - PENALTY * counts
        last = int(np.argmax(logits))
        counts[last] += 1
        words.append(VOCABULARY[last])
    words[0] = words[0].capitalize()
    return " ".join(words) + ".", weights.digest


class TinyModelBackend:
    """The built-in integer language model (module docstring): bit-identical on every machine."""

    name: str = "builtin"

    def run(self, model: str, prompt: str, max_tokens: int) -> AiOutput:
        start = time.perf_counter_ns()
        text, digest = tiny_generate(model, prompt, max_tokens)
        return AiOutput(text.encode("utf-8"), digest, _elapsed_ms(start))


# -- an OpenAI-compatible server ----------------------------------------------------------


def chat_completions_url(endpoint: str) -> str:
    """``{endpoint}/v1/chat/completions``, for an endpoint given with or without ``/v1``."""
    base = endpoint.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise BackendError(f"endpoint must be an http:// or https:// URL, got {endpoint!r}")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1/chat/completions"


def served_model_digest(name: str) -> bytes:
    """``H(SERVED_MODEL_TAG, name)``: the model digest of an output a server says ``name`` produced."""
    return H(SERVED_MODEL_TAG, name.encode("utf-8"))


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _completion_content(url: str, body: Any) -> tuple[str, str | None]:
    """``(choices[0].message.content, model)`` of a chat-completion body, or ``BackendError``."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise BackendError(
            f"{url} answered JSON that is not a chat completion (no choices[0].message.content)"
        ) from None
    if not isinstance(content, str):
        raise BackendError(f"{url} answered a message content of type {type(content).__name__}, not a string")
    served = body.get("model")
    return content, served if isinstance(served, str) and served else None


class OpenAiBackend:
    """A client of an OpenAI-compatible ``/v1/chat/completions`` server.

    ``model``, when given, is the name sent to the server whatever the job's model is (a
    mapping from the chain's model name to the server's); ``api_key`` is sent as a bearer
    token.
    """

    name: str = "openai"

    def __init__(
        self, endpoint: str, model: str | None = None, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = chat_completions_url(endpoint)
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def run(self, model: str, prompt: str, max_tokens: int) -> AiOutput:
        _check_max_tokens(max_tokens)
        asked = self.model or model
        request = {
            "model": asked,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        start = time.perf_counter_ns()
        try:
            response = httpx.post(self.url, json=request, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.url}: {type(exc).__name__}: {_one_line(str(exc))}") from None
        runtime_ms = _elapsed_ms(start)
        if response.status_code != 200:
            raise BackendError(f"{self.url} answered HTTP {response.status_code}: {_one_line(response.text)}")
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise BackendError(
                f"{self.url} answered a body that is not JSON: {_one_line(str(exc))}"
            ) from None
        content, served = _completion_content(self.url, body)
        return AiOutput(content.encode("utf-8"), served_model_digest(served or asked), runtime_ms)


def backend_from_args(
    name: str, *, endpoint: str | None, model: str | None, api_key: str | None = None
) -> AiBackend:
    """The backend the command line names: ``builtin`` or ``openai`` (which needs ``endpoint``).

    ``model`` and ``api_key`` are the OpenAI backend's; the builtin model takes no endpoint
    and no model name (it serves every job's model itself).
    """
    if name == "builtin":
        if endpoint is not None or model is not None:
            raise BackendError("the builtin backend takes no --endpoint or --model")
        return TinyModelBackend()
    if name == "openai":
        if not endpoint:
            raise BackendError("the openai backend needs --endpoint URL")
        return OpenAiBackend(endpoint, model=model, api_key=api_key)
    raise BackendError(f"unknown backend {name!r} (choose builtin or openai)")
