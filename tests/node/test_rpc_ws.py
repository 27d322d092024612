"""WebSocket subscriptions at ``/ws`` (``node.rpc.ws``) on a real in-process node, over real
sockets on 127.0.0.1: topics and filters, replay from a cursor after a disconnect, the slow
consumer, the subscription cap, keepalive and bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from capabilities.abi import encode_args
from chain.keys import encode_address
from chain.module import Event
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_attestation_seed, devnet_provider_key
from node.home import NodeConfig
from node.provider.work import registration
from node.rpc.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, SERVER_BUSY
from node.rpc.ws import CLOSE_KEEPALIVE, CLOSE_SLOW, CURSOR_TOO_OLD, SUBSCRIPTION_LIMIT, WsHub
from node.service import Node
from proofs.devnet import DevnetSigner
from tests.node.helpers import sign_tx
from tests.node.test_rpc import FAST, WAIT, Rpc, node, rpc, start_node
from tests.node.wsclient import Closed, WsClient, close_all

__all__ = ["node", "rpc"]


@pytest.fixture(autouse=True)
async def _close_clients() -> Any:
    yield
    await close_all()

PROVIDER = devnet_provider_key(0)
SIGNER = DevnetSigner.from_seed(devnet_attestation_seed())


def _addr(address: bytes) -> str:
    return encode_address(address, "cairn")


def url(node: Node) -> str:
    return node.rpc_addresses[0]


async def _tx(rpc: Rpc, key: Any, nonce: int, kind: str, payload: Any, gas: int = 5_000_000) -> dict[str, Any]:
    sent = await rpc.call("tx.send", {"tx": sign_tx(key, nonce, kind=kind, payload=payload, gas_limit=gas).raw.hex()})
    receipt = await rpc.wait_receipt(sent["hash"])
    assert receipt["status"] == "ok", receipt
    return receipt


async def test_new_heads_and_logs_arrive_live_in_cursor_order(node: Node, rpc: Rpc) -> None:
    c = await WsClient.connect(url(node))
    heads = await c.call("subscribe", {"topic": "newHeads"})
    logs = await c.call("subscribe", {"topic": "logs", "filter": {"module": "aicf", "name": "treasury"}})
    assert isinstance(heads, str) and heads != logs
    seen: dict[str, list[Any]] = {heads: [], logs: []}
    while len(seen[heads]) < 3 or len(seen[logs]) < 3:
        n = await c.notification()
        seen[n["id"]].append(n)
    for n in seen[heads]:
        h = n["event"]
        assert n["cursor"] == {"height": h["height"], "index": -1}
        block = await rpc.call("chain.getBlock", {"height": h["height"]})
        assert h == block["header"]  # the header as chain.getHead shows it
    heights = [n["event"]["height"] for n in seen[heads]]
    assert heights == list(range(heights[0], heights[0] + len(heights)))
    for n in seen[logs]:
        assert n["event"]["module"] == "aicf" and n["event"]["name"] == "treasury"
        assert int(n["event"]["attrs"]["amount"]) > 0
        stored = node.chain.store.load_events(n["cursor"]["height"])[n["cursor"]["index"]]
        assert (stored.module, stored.name) == ("aicf", "treasury")
    assert await c.call("unsubscribe", {"id": heads}) is True
    assert await c.call("unsubscribe", {"id": heads}) is False
    await c.aclose()


async def test_job_topics_and_filters(node: Node, rpc: Rpc, samples: dict[str, bytes]) -> None:
    provider = _addr(PROVIDER.address)
    other = _addr(devnet_provider_key(1).address)
    c = await WsClient.connect(url(node))
    mine = await c.call("subscribe", {"topic": "jobAssigned", "filter": {"provider": provider}})
    theirs = await c.call("subscribe", {"topic": "jobAssigned", "filter": {"provider": other}})
    done = await c.call("subscribe", {"topic": "jobCompleted"})
    await _tx(rpc, PROVIDER, 0, "provider_register",
              registration("cairn-devnet", PROVIDER, SIGNER, kinds=["ai"], models=["llama3-8b"], stake=10**10),
              2_000_000)
    await _tx(rpc, PROVIDER, 1, "provider_heartbeat", [1000, 5, 9000, 40, 0], 1_000_000)
    owner = devnet_account_key(1)
    agent = contract_address(owner.address, 0)
    await _tx(rpc, owner, 0, "deploy", [samples["ai_agent"], b""], 20_000_000)
    ask = encode_args([("str", "llama3-8b"), ("str", "What is a cairn?"), ("u64", 12)])
    receipt = await _tx(rpc, owner, 1, "call", [bytes(agent), "ask", ask, 1_000_000])
    (task,) = [e["attrs"]["task_id"] for e in receipt["events"] if e["name"] == "enqueued"]
    n = await c.notification()
    assert n["id"] == mine, n  # nothing for the other provider's filter
    assert n["event"] == {"module": "aicf", "name": "job_assigned",
                          "attrs": {"task_id": task, "requester": _addr(agent), "provider": provider}}
    assert n["cursor"]["height"] == receipt["height"]
    stored = node.chain.store.load_events(n["cursor"]["height"])[n["cursor"]["index"]]
    assert stored.name == "job_assigned" and dict(stored.attrs)["task_id"].hex() == task
    # replays with each filter: matching ones see the assignment, the others nothing
    at = {"height": n["cursor"]["height"], "index": -1}
    for flt, expect in [({"task": task}, True), ({"task": "00" * 32}, False), ({"requester": _addr(agent)}, True),
                        ({"requester": other}, False), ({"provider": provider, "task": task}, True)]:
        r = await WsClient.connect(url(node))
        sid = await r.call("subscribe", {"topic": "jobAssigned", "filter": flt, "from": at})
        await r.call("subscribe", {"topic": "newHeads", "from": at})  # a marker after the replay
        first = await r.notification()
        assert (first["id"] == sid) is expect, (flt, first)
        if expect:
            assert first["event"]["attrs"]["task_id"] == task
        await r.aclose()
    # the provider proves; the resolution reaches the jobCompleted subscription
    from capabilities.records import JobReceipt
    from node.provider.backends import TinyModelBackend
    from node.provider.work import ai_envelope

    cap = await rpc.call("cap.getJob", {"task_id": task})
    jr = JobReceipt(bytes.fromhex(task), "ai", agent, int(cap["fee_escrowed"]),  # type: ignore[arg-type]
                    int(cap["price_ceiling"]), cap["sla_deadline"], cap["enqueue_height"],
                    bytes.fromhex(cap["request_digest"]))  # type: ignore[arg-type]
    out = TinyModelBackend().run("llama3-8b", "What is a cairn?", 12)
    await rpc.call("aicf.submitProof", {"envelope": ai_envelope("cairn-devnet", PROVIDER, SIGNER, jr, "llama3-8b",
                                                                out).encode().hex()})
    n = await c.notification()
    assert n["id"] == done and n["event"]["name"] == "job_resolved"
    assert n["event"]["attrs"]["task_id"] == task and n["event"]["attrs"]["provider"] == provider
    assert theirs != mine
    await c.aclose()

    # real slashing and settlement events: a second job, answered with a proof for another input
    s = await WsClient.connect(url(node))
    slashed = await s.call("subscribe", {"topic": "providerSlashed", "filter": {"provider": provider}})
    settled = await s.call("subscribe", {"topic": "epochSettled"})
    receipt = await _tx(rpc, owner, 2, "call", [bytes(agent), "ask", ask, 1_000_000])
    (second,) = [e["attrs"]["task_id"] for e in receipt["events"] if e["name"] == "enqueued"]
    cap = await rpc.call("cap.getJob", {"task_id": second})
    wrong = JobReceipt(bytes.fromhex(second), "ai", agent, int(cap["fee_escrowed"]),  # type: ignore[arg-type]
                       int(cap["price_ceiling"]), cap["sla_deadline"], cap["enqueue_height"],
                       b"\x01" * 32)  # type: ignore[arg-type]
    await rpc.call("aicf.submitProof", {"envelope": ai_envelope("cairn-devnet", PROVIDER, SIGNER, wrong, "llama3-8b",
                                                                out).encode().hex()})
    n = await s.notification()
    assert n["id"] == slashed and n["event"]["name"] == "provider_slashed"
    assert n["event"]["attrs"] == {"provider": provider, "reason": "bad_proof", "amount": str(10**10 // 10),
                                   "task_id": second}
    n = await s.notification()  # the devnet's first epoch ends at height 20
    assert n["id"] == settled and n["event"]["attrs"]["epoch"] == 1 and n["event"]["attrs"]["payouts"] == 1
    assert n["cursor"]["height"] == 20
    await s.aclose()


@pytest.mark.parametrize(("topic", "name"), [("jobExpired", "job_expired"), ("providerSlashed", "provider_slashed"),
                                             ("epochSettled", "epoch_settled"), ("jobAssigned", "job_assigned")])
async def test_each_job_topic_carries_its_event(node: Node, rpc: Rpc, topic: str, name: str) -> None:
    """The routing of every topic, fed through the hub's commit listener with the event added."""
    assert node.ws is not None
    c = await WsClient.connect(url(node))
    sid = await c.call("subscribe", {"topic": topic, "filter": {"task": "11" * 32}})
    other = await c.call("subscribe", {"topic": "logs", "filter": {"module": "aicf", "name": name}})
    head = node.chain.head
    block = node.chain.store.load_block_at(head.height)
    # a real committed block, its output replaced by one carrying the events
    fake = [Event("aicf", name, (("task_id", b"\x22" * 32), ("epoch", 3), ("provider", bytes(PROVIDER.address)))),
            Event("aicf", name, (("task_id", b"\x11" * 32), ("epoch", 4), ("amount", 5)))]
    from chain.apply import BlockOutput
    from chain.state import StateCommit

    out = BlockOutput(StateCommit(b"\x00" * 32, {}, {}, set()), (), block.header.receipts_root, tuple(fake))
    node.ws._on_commit(block, out)
    got = [await c.notification() for _ in range(3)]
    mine = [n for n in got if n["id"] == sid]
    assert len(mine) == 1 and mine[0]["event"]["name"] == name and mine[0]["cursor"]["index"] == 1
    assert mine[0]["event"]["attrs"]["amount"] == "5"
    assert [n["cursor"]["index"] for n in got if n["id"] == other] == [0, 1]
    assert [n for n in got if n["id"] == other][0]["event"]["attrs"]["provider"] == _addr(PROVIDER.address)
    await c.aclose()


async def test_replay_from_a_cursor_after_a_disconnect_has_no_gap_and_no_repeat(node: Node, rpc: Rpc) -> None:
    c = await WsClient.connect(url(node))
    sid = await c.call("subscribe", {"topic": "logs"})
    first = [await c.notification() for _ in range(3)]
    last = first[-1]["cursor"]
    await c.aclose()
    await rpc.wait_height(last["height"] + 4)  # blocks commit while it is away
    c = await WsClient.connect(url(node))
    sid = await c.call("subscribe", {"topic": "logs", "from": last})
    head_then = node.chain.head.height
    got = []
    while not got or got[-1]["cursor"]["height"] < head_then + 3:
        got.append(await c.notification())
    cursors = [(n["cursor"]["height"], n["cursor"]["index"]) for n in got]
    assert all(n["id"] == sid for n in got)
    expected = [(h, i) for h in range(last["height"], cursors[-1][0] + 1)
                for i in range(len(node.chain.store.load_events(h))) if (h, i) > (last["height"], last["index"])]
    assert cursors == expected  # every missed event, then live ones: no gap, no duplicate at the seam
    assert cursors[0] > (last["height"], last["index"])
    await c.aclose()


async def test_a_slow_consumer_is_closed_with_its_resume_cursor_while_others_keep_receiving(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    config = NodeConfig(rpc_port=0, min_block_interval=0.02, max_block_interval=0.05,
                        limits={"rpc": {"ws_queue_messages": 4}})
    node = await start_node(nursery, tmp_path / "data", config)
    assert node.ws is not None
    slow = await WsClient.connect(url(node), rcvbuf=1024)
    fast = await WsClient.connect(url(node))
    await slow.call("subscribe", {"topic": "newHeads"})
    fid = await fast.call("subscribe", {"topic": "newHeads"})
    received = 0
    with trio.fail_after(WAIT):
        while node.ws.closed_slow == 0:  # the slow client reads nothing meanwhile
            n = await fast.notification()
            assert n["id"] == fid
            received += 1
    for _ in range(5):  # the fast one goes on
        assert (await fast.notification())["id"] == fid
    delivered = []
    with pytest.raises(Closed) as closed:
        while True:
            delivered.append(await slow.notification())
    assert closed.value.code == CLOSE_SLOW
    assert closed.value.reason.startswith("slow consumer: ")
    resume = closed.value.reason.rsplit(" ", 1)[1]
    h, i = (int(x) for x in resume.split(":"))
    # the cursor through which delivery is certain: at most the one write in flight is repeated
    last = delivered[-1]["cursor"]["height"]
    assert delivered and i == -1 and last - 1 <= h <= last
    assert received >= 1
    with trio.fail_after(5):  # the server lets the closed connection go
        while len(node.ws.connections) != 1:
            await trio.sleep(0.05)
    again = await WsClient.connect(url(node))  # resubscribing from the cursor picks up after it
    await again.call("subscribe", {"topic": "newHeads", "from": {"height": h, "index": i}})
    assert (await again.notification())["cursor"] == {"height": h + 1, "index": -1}


async def test_keepalive_pings_and_closes_a_client_that_does_not_answer(nursery: trio.Nursery,
                                                                         tmp_path: Path) -> None:
    config = replace(FAST, limits={"rpc": {"ws_ping_interval": 0.2, "ws_pong_timeout": 0.3}})
    node = await start_node(nursery, tmp_path / "data", config)
    alive = await WsClient.connect(url(node))
    dead = await WsClient.connect(url(node), answer_pings=False)
    await alive.call("subscribe", {"topic": "newHeads"})
    await dead.call("subscribe", {"topic": "newHeads"})
    async with trio.open_nursery() as reading:

        async def keep_reading() -> None:
            while True:
                await alive.notification()  # answers pings as it reads

        reading.start_soon(keep_reading)
        with pytest.raises(Closed) as closed:
            with trio.fail_after(5):
                while True:
                    await dead.receive()
        assert closed.value.code == CLOSE_KEEPALIVE and "no pong" in closed.value.reason
        assert dead.pings >= 1
        with trio.fail_after(5):
            while alive.pings < 4:  # answered: still open after several intervals
                await trio.sleep(0.05)
        reading.cancel_scope.cancel()
    await alive.call("unsubscribe", {"id": "1"})


async def test_bad_input_gets_error_objects_and_the_connection_stays(node: Node) -> None:
    c = await WsClient.connect(url(node))
    await c.send_text("{not json")
    assert (await c.receive())["error"]["code"] == PARSE_ERROR
    assert (await c.error("nope"))["code"] == -32601
    await c.send_text('{"id": 1}')
    assert (await c.receive())["error"]["code"] == INVALID_REQUEST
    head = node.chain.head.height
    for params, code, words in [
        ({"topic": "blocks"}, INVALID_PARAMS, "unknown topic"),
        ({}, INVALID_PARAMS, "missing param 'topic'"),
        ({"topic": "newHeads", "filter": {"provider": _addr(PROVIDER.address)}}, INVALID_PARAMS, "does not apply"),
        ({"topic": "jobAssigned", "filter": {"provider": "cairn1xyz"}}, INVALID_PARAMS, "filter 'provider'"),
        ({"topic": "jobAssigned", "filter": {"task": "zz"}}, INVALID_PARAMS, "'task'"),
        ({"topic": "jobAssigned", "filter": {"colour": "red"}}, INVALID_PARAMS, "does not apply"),
        ({"topic": "jobAssigned", "filter": []}, INVALID_PARAMS, "must be an object"),
        ({"topic": "logs", "from": {"height": head + 100, "index": 0}}, INVALID_PARAMS, "'height'"),
        ({"topic": "logs", "from": {"height": 0, "index": -2}}, INVALID_PARAMS, "from.index"),
        ({"topic": "logs", "from": [1, 2]}, INVALID_PARAMS, "{height, index}"),
        ({"topic": "logs", "extra": 1}, INVALID_PARAMS, "unknown param"),
    ]:
        err = await c.error("subscribe", params)
        assert err["code"] == code and words in err["message"], (params, err)
    assert await c.call("subscribe", {"topic": "newHeads"}) == "1"  # still serving


async def test_replay_window_and_subscription_limit(nursery: trio.Nursery, tmp_path: Path) -> None:
    config = replace(FAST, limits={"rpc": {"ws_replay_blocks": 2, "ws_max_subscriptions": 3,
                                           "ws_max_connections": 1}})
    node = await start_node(nursery, tmp_path / "data", config)
    async with __import__("httpx").AsyncClient(base_url=url(node), timeout=WAIT) as http:
        await Rpc(http).wait_height(4)
    c = await WsClient.connect(url(node))
    err = await c.error("subscribe", {"topic": "logs", "from": {"height": 0, "index": -1}})
    assert err["code"] == CURSOR_TOO_OLD and "at most 2 blocks" in err["message"]
    for _ in range(3):
        await c.call("subscribe", {"topic": "newHeads"})
    err = await c.error("subscribe", {"topic": "logs"})
    assert err["code"] == SUBSCRIPTION_LIMIT and err["data"] == {"limit": 3}
    with pytest.raises(AssertionError, match="503"):
        await WsClient.connect(url(node))  # past ws_max_connections
    assert SERVER_BUSY == -32000 and isinstance(node.ws, WsHub)
