"""``cairn provider run``: the reference provider, a loop over JSON-RPC.

What it does, every ``poll`` seconds, against one node's RPC:

1. **Register** once: if the chain has no provider for its key, send ``provider_register``
   (kinds AI and quantum, the models ``--models`` lists, the devnet attestation of
   ``node.provider.work.registration``) and wait for the receipt.
2. **Heartbeat** right after registering and then every ``heartbeat_blocks`` blocks (5 by
   default, a quarter of the default 20-block lease), reporting its telemetry: nominal bandwidth, the RPC round trip as latency,
   free compute from the load average, the CPU temperature where the OS gives it, and the
   backend errors since the last heartbeat.  The heartbeat renews every lease it holds.  A
   provider jailed for a failed proof sends ``provider_unjail`` once its jail has run out.
3. **Follow its assignments** over the node's WebSocket stream (``/ws``, ``node.rpc.ws``):
   a ``jobAssigned`` subscription filtered to its own address tells it of each new lease
   as its block commits, and it then reads the jobs it holds with ``aicf.getJob``.  The
   cursor of the last assignment it handled is saved in ``state.json``; after a restart it
   subscribes ``from`` that cursor, so an assignment made while it was down is replayed.
   While the stream is down (refused, closed, a node without it) it falls back to polling
   ``aicf.listJobs {provider, status: leased}`` and reconnects with a backoff (0.5 s,
   doubling to 10 s).  The first pass after a start always polls once, for the leases an
   older cursor no longer replays.  An AI job runs
   on the backend (``node.provider.backends``) and its ``AI_V1`` envelope goes to
   ``aicf.submitProof``.  A quantum job is planned from its assignment beacon, run on the
   simulator, and committed (``quantum_commit``); once the chain records the beacon after
   the commitment, the revealed slots are opened and submitted.

Progress survives a restart, including ``kill -9``: ``state.json`` in the provider home
(written whole to a temporary file, fsynced, then renamed) records each job it committed
or submitted and at which height.  On start it re-reads its leases from the chain, so a
job it was running when killed is simply run again (backends are deterministic for the
devnet; an envelope the pool already holds is refused as a ``duplicate``, which is fine),
and an envelope a restarted node lost is submitted again after ``resubmit_blocks``.

The only attestation class it can produce is ``devnet``, so it registers only on devnet
chains; a real deployment swaps ``work.registration`` and ``work.ai_envelope``'s devnet
report for its TEE's quote.  The loop is synchronous (httpx): a provider is one client.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

from capabilities.records import JobReceipt, QuantumRequest
from chain.hashing import H
from chain.keys import PrivateKey, decode_address, encode_address
from chain.tx import TxBody
from chain.types import Address, Hash32
from genesis.devnet import devnet_attestation_seed
from node.client import NodeUnreachable, RpcClient, RpcClientError
from node.home import read_key, write_key
from node.provider.backends import AiBackend, BackendError
from node.provider.work import ai_envelope, quantum_envelope, quantum_plan, quantum_run, registration
from proofs.devnet import DevnetSigner
from proofs.quantum.verify import QuantumParams

log = structlog.get_logger("cairn.provider")

KEY_FILE = "provider_key.json"
STATE_FILE = "state.json"
TX_GAS = 300_000
REGISTER_GAS = 2_000_000
DEFAULT_STAKE = 10_000_000_000
DEFAULT_MODELS = ("clip-vit-b", "llama3-70b", "llama3-8b")


@dataclass
class Progress:
    """What survives a restart (``state.json``)."""

    registered: bool = False
    heartbeat_height: int = 0
    submitted: dict[str, int] = field(default_factory=dict)
    """task id (hex) → height at which its envelope was last submitted."""
    committed: dict[str, int] = field(default_factory=dict)
    """quantum task id (hex) → height at which its commitment was sent."""
    cursor: tuple[int, int] | None = None
    """The ``(height, index)`` of the last ``jobAssigned`` event handled (``node.rpc.ws``)."""

    @classmethod
    def load(cls, path: Path) -> Progress:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        cursor = doc.get("cursor")
        return cls(bool(doc.get("registered")), int(doc.get("heartbeat_height", 0)),
                   {str(k): int(v) for k, v in doc.get("submitted", {}).items()},
                   {str(k): int(v) for k, v in doc.get("committed", {}).items()},
                   (int(cursor[0]), int(cursor[1])) if cursor else None)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"registered": self.registered, "heartbeat_height": self.heartbeat_height,
                       "submitted": self.submitted, "committed": self.committed,
                       "cursor": list(self.cursor) if self.cursor else None}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def ws_url(rpc_url: str) -> str:
    """The node's WebSocket endpoint for its RPC URL (``http://h:p`` → ``ws://h:p/ws``)."""
    base = rpc_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + "/ws"
    return "ws://" + base.removeprefix("http://") + "/ws"


class AssignmentStream:
    """A ``jobAssigned`` subscription for one provider, on a thread of its own.

    It delivers ``(cursor, task_id)`` pairs in cursor order through ``drain``; ``connected``
    says whether the subscription is live.  When the connection fails or closes it waits
    (0.5 s, doubling to ``max_backoff``) and subscribes again from the last cursor it
    delivered, so the pairs have no gap and no repeat across reconnects.
    """

    def __init__(self, url: str, provider: str, after: tuple[int, int] | None, *, max_backoff: float = 10.0) -> None:
        self.url = url
        self.provider = provider
        self.after = after
        self.max_backoff = max_backoff
        self.connected = threading.Event()
        self.failures = 0
        self._items: queue.Queue[tuple[tuple[int, int], str]] = queue.Queue()
        self._stop = threading.Event()
        self._ws: Any = None
        self._thread = threading.Thread(target=self._run, name="provider-ws", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        self._thread.join(timeout=5)

    def drain(self) -> list[tuple[tuple[int, int], str]]:
        out = []
        while True:
            try:
                out.append(self._items.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                backoff = 0.5
            except (OSError, WebSocketException, ValueError, KeyError, TypeError) as exc:
                self.failures += 1
                log.info("assignment stream down, polling meanwhile", error=str(exc)[:200], retry_s=backoff)
            self.connected.clear()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff)

    def _follow(self) -> None:
        params: dict[str, Any] = {"topic": "jobAssigned", "filter": {"provider": self.provider}}
        if self.after is not None:
            params["from"] = {"height": self.after[0], "index": self.after[1]}
        with ws_connect(self.url, open_timeout=10, close_timeout=2, max_size=2**20) as ws:
            self._ws = ws
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": params}))
            answer = json.loads(ws.recv(timeout=10))
            if "result" not in answer:
                raise ValueError(f"subscribe refused: {answer.get('error')}")
            self.connected.set()
            for message in ws:
                doc = json.loads(message)
                if doc.get("method") != "subscription":
                    continue
                cursor = (int(doc["params"]["cursor"]["height"]), int(doc["params"]["cursor"]["index"]))
                self._items.put((cursor, str(doc["params"]["event"]["attrs"]["task_id"])))
                self.after = cursor
        if not self._stop.is_set():
            raise ValueError("the node closed the assignment stream")


def wait_for_node(client: RpcClient, timeout: float = 120.0) -> None:
    """Return once the node answers ``node.status`` (a provider may start before its node)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.call("node.status")
            return
        except NodeUnreachable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def provider_key(home: Path, devnet_index: int | None) -> PrivateKey:
    """The devnet provider key ``devnet_index``, else the home's key (created on first run)."""
    from genesis.devnet import devnet_provider_key

    if devnet_index is not None:
        return devnet_provider_key(devnet_index)
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        write_key(path, PrivateKey.from_seed(os.urandom(32)))
    return read_key(path)


def _temperature_c() -> int:
    try:
        return int(Path("/sys/class/thermal/thermal_zone0/temp").read_text().strip()) // 1000
    except (OSError, ValueError):
        return 40


class Provider:
    """The loop of the module docstring."""

    def __init__(self, home: Path, client: RpcClient, key: PrivateKey, backend: AiBackend, *,
                 models: tuple[str, ...] = DEFAULT_MODELS, stake: int = DEFAULT_STAKE, region: str = "local",
                 heartbeat_blocks: int = 5, resubmit_blocks: int = 10, quantum: QuantumParams | None = None) -> None:
        self.home = home
        self.client = client
        self.key = key
        self.backend = backend
        self.models = models
        self.stake = stake
        self.region = region
        self.heartbeat_blocks = heartbeat_blocks
        self.resubmit_blocks = resubmit_blocks
        self.quantum = quantum or QuantumParams()
        self.signer = DevnetSigner.from_seed(devnet_attestation_seed())
        home.mkdir(parents=True, exist_ok=True)
        self.state_path = home / STATE_FILE
        self.progress = Progress.load(self.state_path)
        status = client.call("node.status")
        self.chain_id: str = status["chain_id"]
        self.prefix: str = status["address_prefix"]
        self.gas_price: int = int(status.get("min_gas_price", 1))
        self.address = encode_address(key.address, self.prefix)
        self.errors = 0
        self.latency_ms = 1
        self.stream: AssignmentStream | None = None
        self.tracked: set[str] = set()
        """Tasks leased to it that the stream announced (while the stream is up)."""
        self._polled = False

    # --- transactions ---------------------------------------------------------------

    def _send(self, kind: str, payload: Any, *, wait: bool, gas: int = TX_GAS) -> dict[str, Any] | None:
        nonce = int(self.client.call("state.getAccount", address=self.address)["next_nonce"])
        body = TxBody(self.chain_id, nonce, self.key.public_key, gas * self.gas_price, gas, kind, payload)
        tx_hash = self.client.call("tx.send", tx=body.sign(self.key).raw.hex())["hash"]
        if not wait:
            return None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                receipt: dict[str, Any] = self.client.call("tx.getReceipt", hash=tx_hash)
                return receipt
            except RpcClientError:
                time.sleep(0.2)
        raise BackendError(f"{kind} transaction {tx_hash} not committed within 60 s")

    def ensure_registered(self) -> None:
        try:
            self.client.call("aicf.getProvider", address=self.address)
        except RpcClientError as exc:
            if exc.data is None or exc.data.get("name") != "NOT_FOUND":
                raise
            payload = registration(self.chain_id, self.key, self.signer, kinds=["ai", "quantum"], models=self.models,
                                   region=self.region, stake=self.stake)
            receipt = self._send("provider_register", payload, wait=True, gas=REGISTER_GAS)
            if receipt is None or receipt["status"] != "ok":
                raise BackendError(f"registration failed: {receipt and receipt['reason']}") from None
            log.info("provider registered", provider=self.address, stake=self.stake)
        self.progress.registered = True
        self.progress.save(self.state_path)

    def unjail_if_due(self, height: int) -> None:
        """A jailed provider whose jail has run out sends ``provider_unjail``."""
        record = self.client.call("aicf.getProvider", address=self.address)
        if record["jailed_until"] and height >= record["jailed_until"]:
            self._send("provider_unjail", [], wait=False)
            log.info("unjail sent", jailed_until=record["jailed_until"])

    def heartbeat(self, height: int) -> None:
        load = os.getloadavg()[0] / max(os.cpu_count() or 1, 1)
        compute = max(0, min(10_000, int(10_000 * (1 - load))))
        telemetry = [1_000, self.latency_ms, compute, _temperature_c(), self.errors]
        self._send("provider_heartbeat", telemetry, wait=False)
        self.errors = 0
        self.progress.heartbeat_height = height
        self.progress.save(self.state_path)
        log.info("heartbeat", height=height, latency_ms=self.latency_ms, compute_bp=compute)

    # --- jobs -----------------------------------------------------------------------

    def _submit(self, task: str, envelope: bytes, height: int) -> None:
        try:
            self.client.call("aicf.submitProof", envelope=envelope.hex())
        except RpcClientError as exc:
            reason = (exc.data or {}).get("reason")
            if reason != "duplicate":
                log.warning("proof refused", task_id=task, reason=reason or exc.message)
                return
        self.progress.submitted[task] = height
        self.progress.save(self.state_path)
        log.info("proof submitted", task_id=task, height=height)

    def _run_ai(self, job: dict[str, Any], height: int) -> None:
        request, receipt = job["request"], job["receipt"]
        try:
            out = self.backend.run(request["model"], request["prompt"], int(request["max_tokens"]))
        except BackendError as exc:
            self.errors += 1
            log.warning("backend failed", task_id=job["task_id"], error=str(exc))
            return
        env = ai_envelope(self.chain_id, self.key, self.signer, _receipt(receipt, self.prefix), request["model"], out,
                          p95_latency_ms=out.runtime_ms)
        self._submit(job["task_id"], env.encode(), height)

    def _quantum(self, job: dict[str, Any], height: int) -> None:
        task = job["task_id"]
        lease = next(le for le in job["leases"] if le["provider"] == self.address)
        request = QuantumRequest(job["request"]["circuit"], int(job["request"]["shots"]))
        committing = lease["commit_root"] is None
        if committing and height - self.progress.committed.get(task, -10**9) < self.resubmit_blocks:
            return  # the commitment is on its way
        if not committing and lease["reveal_beacon"] is None:
            return  # wait for the block after the commitment
        plan = quantum_plan(bytes.fromhex(task), bytes.fromhex(lease["assign_beacon"]), request, self.quantum)
        # The shots are seeded by the key and the task, so a restart reproduces the committed histograms.
        histograms, root = quantum_run(plan, H(b"cairn/provider-shots/v1", self.key.seed + bytes.fromhex(task)))
        if committing:
            self._send("quantum_commit", [bytes.fromhex(task), root], wait=False)
            self.progress.committed[task] = height
            self.progress.save(self.state_path)
            log.info("quantum committed", task_id=task, root=root.hex())
            return
        env = quantum_envelope(self.chain_id, self.key, plan, histograms, bytes.fromhex(lease["reveal_beacon"]))
        self._submit(task, env.encode(), height)

    def step(self) -> int:
        """One pass of the loop; the head height it saw."""
        start = time.monotonic()
        height = int(self.client.call("node.status")["height"])
        self.latency_ms = max(1, int((time.monotonic() - start) * 1000))
        if not self.progress.registered:
            self.ensure_registered()
        if not self.progress.heartbeat_height or height - self.progress.heartbeat_height >= self.heartbeat_blocks:
            self.heartbeat(height)
            self.unjail_if_due(height)
        assigned = self.stream.drain() if self.stream is not None else []
        for _, task in assigned:
            self.tracked.add(task)
        if self.stream is not None and self.stream.connected.is_set() and self._polled:
            open_tasks = set(self.tracked)
        else:  # no stream (or the first pass): ask the chain for every lease
            jobs = self.client.call("aicf.listJobs", provider=self.address, status="leased")["jobs"]
            open_tasks = {j["task_id"] for j in jobs}
            self.tracked = set(open_tasks)
            self._polled = True
        for task in sorted(open_tasks):
            if height - self.progress.submitted.get(task, -10**9) < self.resubmit_blocks:
                continue
            job = self.client.call("aicf.getJob", task_id=task)
            if job["status"] != "leased" or all(le["provider"] != self.address for le in job["leases"]):
                self.tracked.discard(task)
                open_tasks.discard(task)
                continue
            if job["kind"] == "ai":
                self._run_ai(job, height)
            else:
                self._quantum(job, height)
        for done in [t for t in self.progress.submitted if t not in open_tasks]:
            del self.progress.submitted[done]
            self.progress.committed.pop(done, None)
            self.progress.save(self.state_path)
        if assigned:  # handled: a restart resumes after it
            self.progress.cursor = assigned[-1][0]
            self.progress.save(self.state_path)
        return height

    def start_stream(self, url: str) -> AssignmentStream:
        """Follow assignments over ``url`` (``ws_url``), from the saved cursor."""
        self.stream = AssignmentStream(url, self.address, self.progress.cursor)
        self.stream.start()
        return self.stream

    def stop_stream(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream = None

    def run(self, *, poll: float = 0.5) -> None:
        log.info("provider starting", provider=self.address, backend=self.backend.name, chain_id=self.chain_id)
        self.ensure_registered()
        self.start_stream(ws_url(self.client.url))
        while True:
            try:
                self.step()
            except (RpcClientError, BackendError, NodeUnreachable) as exc:
                self.errors += 1
                log.warning("provider step failed", error=str(exc))
            time.sleep(poll)


def _receipt(doc: dict[str, Any], prefix: str) -> JobReceipt:
    """The ``JobReceipt`` of an ``aicf.getJob`` answer's ``receipt``."""
    return JobReceipt(Hash32(bytes.fromhex(doc["task_id"])), doc["kind"], Address(decode_address(doc["requester"], prefix)),
                      int(doc["fee_escrowed"]), int(doc["price_ceiling"]), int(doc["sla_deadline"]),
                      int(doc["enqueue_height"]), Hash32(bytes.fromhex(doc["request_digest"])))


__all__ = ["AssignmentStream", "Progress", "Provider", "provider_key", "wait_for_node", "ws_url"]
