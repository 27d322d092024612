"""The reference provider follows its assignments over ``/ws`` and, restarted, resumes from
the cursor saved in its home: an assignment made while it was down is replayed to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from capabilities.abi import encode_args
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_provider_key
from node.client import RpcClient
from node.provider.backends import TinyModelBackend
from node.provider.runner import Progress, Provider, ws_url
from node.service import Node
from tests.node.helpers import sign_tx
from tests.node.test_rpc import WAIT, Rpc, node, rpc

__all__ = ["node", "rpc"]

KEY = devnet_provider_key(0)
OWNER = devnet_account_key(1)
AGENT = contract_address(OWNER.address, 0)


async def _ask(rpc: Rpc, nonce: int, prompt: str) -> str:
    ask = encode_args([("str", "llama3-8b"), ("str", prompt), ("u64", 8)])
    tx = sign_tx(OWNER, nonce, kind="call", payload=[bytes(AGENT), "ask", ask, 1_000_000], gas_limit=5_000_000)
    receipt = await rpc.wait_receipt((await rpc.call("tx.send", {"tx": tx.raw.hex()}))["hash"])
    assert receipt["status"] == "ok", receipt
    (task,) = [e["attrs"]["task_id"] for e in receipt["events"] if e["name"] == "enqueued"]
    return str(task)


def _assigned_cursor(node: Node, task: str) -> tuple[int, int]:
    for height in range(1, node.chain.head.height + 1):
        for i, e in enumerate(node.chain.store.load_events(height)):
            if e.name == "job_assigned" and dict(e.attrs)["task_id"].hex() == task:
                return height, i
    raise AssertionError(f"{task} was never assigned")


async def _until(fn: Any, done: Any) -> None:
    with trio.fail_after(WAIT):
        while not done():
            await trio.to_thread.run_sync(fn)
            await trio.sleep(0.05)


async def test_the_provider_resumes_from_its_saved_cursor_after_a_restart(
        node: Node, rpc: Rpc, samples: dict[str, bytes], tmp_path: Path) -> None:
    url = node.rpc_addresses[0]
    home = tmp_path / "provider"
    deploy = sign_tx(OWNER, 0, kind="deploy", payload=[samples["ai_agent"], b""], gas_limit=20_000_000)
    assert (await rpc.wait_receipt((await rpc.call("tx.send", {"tx": deploy.raw.hex()}))["hash"]))["status"] == "ok"

    def make() -> Provider:
        return Provider(home, RpcClient(url, timeout=WAIT), KEY, TinyModelBackend(), models=("llama3-8b",))

    first = await trio.to_thread.run_sync(make)
    stream = first.start_stream(ws_url(url))
    assert stream.url == url.replace("http://", "ws://") + "/ws"
    await _until(lambda: None, stream.connected.is_set)
    await trio.to_thread.run_sync(first.step)  # registers, heartbeats, polls once
    task1 = await _ask(rpc, 1, "one")
    await _until(first.step, lambda: task1 in first.progress.submitted)
    assert first.progress.cursor == _assigned_cursor(node, task1)  # it came over the stream
    saved = Progress.load(home / "state.json").cursor
    assert saved == first.progress.cursor
    await trio.to_thread.run_sync(first.stop_stream)
    first.client.close()

    task2 = await _ask(rpc, 2, "two")  # assigned while the provider is down
    await rpc.wait_height(node.chain.head.height + 2)
    second = await trio.to_thread.run_sync(make)
    assert second.progress.cursor == saved
    stream2 = second.start_stream(ws_url(url))
    with trio.fail_after(WAIT):
        while stream2._items.qsize() < 1:
            await trio.sleep(0.05)
    replayed = stream2.drain()
    assert [t for _, t in replayed] == [task2]  # exactly the missed assignment, not task 1 again
    assert replayed[0][0] == _assigned_cursor(node, task2) and replayed[0][0] > saved
    second.tracked.add(task2)
    second._polled = True  # no polling: the stream alone brought the job
    await _until(second.step, lambda: task2 in second.progress.submitted)
    with trio.fail_after(WAIT):
        while (await rpc.call("aicf.getJob", {"task_id": task2}))["status"] != "resolved":
            await trio.sleep(0.05)
    await trio.to_thread.run_sync(second.stop_stream)
    second.client.close()
