"""The typed clients (``node.rpcclient``): one method per spec method, and subscriptions that resume.

* every method of ``node.rpc.spec`` has a sync and an async client method with exactly its
  param names (the required ones positional, in the spec's order), and the generated file
  is what the generator writes now;
* both clients call a real in-process node;
* an async subscription keeps its cursor and, when the node drops the connection, resumes
  from it: the next event arrives, none is repeated.
"""

from __future__ import annotations

import inspect

import trio

from genesis.devnet import devnet_account_key
from node.rpc import clientgen
from node.rpc.spec import METHODS_LIST
from node.rpc.ws import CLOSE_GOING_AWAY
from node.rpcclient import AsyncClient, Client, RpcClientError
from node.service import Node
from tests.node.helpers import sign_tx
from tests.node.test_rpc import WAIT, node

__all__ = ["node"]
ALICE, BOB = devnet_account_key(0), devnet_account_key(1)


def test_every_spec_method_has_a_client_method_with_its_params() -> None:
    for cls in (Client, AsyncClient):
        for m in METHODS_LIST:
            fn = getattr(cls, clientgen.py_name(m.name), None)
            assert fn is not None, (cls, m.name)
            params = list(inspect.signature(fn).parameters.values())[1:]
            assert sorted(p.name for p in params) == sorted(m.param_names), m.name
            positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
            assert positional == [p.name for p in m.params if p.required], m.name
            assert inspect.iscoroutinefunction(fn) == (cls is AsyncClient), m.name
    assert clientgen.main(["--check"]) == 0, "run python -m node.rpc.clientgen"


async def test_both_clients_call_a_node(node: Node) -> None:
    url = node.rpc_addresses[0]
    async with AsyncClient(url) as c:
        assert (await c.node_status())["chain_id"] == "cairn-devnet"
        assert (await c.chain_get_block(height=0))["header"]["height"] == 0
        try:
            await c.chain_get_block(height=10**9)
            raise AssertionError("no error")
        except RpcClientError as exc:
            assert exc.code == 600
    with Client(url) as s:
        head = await trio.to_thread.run_sync(s.chain_get_head)
        assert head["height"] >= 0


async def _transfer(c: AsyncClient, nonce: int) -> dict[str, object]:
    sent = await c.tx_send(sign_tx(ALICE, nonce, to=BOB.address, amount=10 + nonce).raw.hex())
    with trio.fail_after(WAIT):
        while True:
            try:
                return dict(await c.tx_get_receipt(sent["hash"]))
            except RpcClientError as exc:
                assert exc.code == 600
                await trio.sleep(0.02)


async def test_subscription_resumes_from_its_cursor_after_the_node_drops_it(node: Node) -> None:
    assert node.ws is not None
    async with AsyncClient(node.rpc_addresses[0]) as c:
        with trio.fail_after(WAIT):
            sub = await c.subscribe("logs", filter={"module": "bank", "name": "transfer"}, backoff=0.05)
            first = await _transfer(c, 0)
            note = await sub.__anext__()
            assert note["event"]["attrs"]["amount"] == "10" and note["cursor"]["height"] == first["height"]
            assert sub.cursor == (note["cursor"]["height"], note["cursor"]["index"])

            for conn in list(node.ws.connections):  # the node drops every /ws connection
                conn.close(CLOSE_GOING_AWAY, "dropped by the test")
            while node.ws.connections:
                await trio.sleep(0.01)
            second = await _transfer(c, 1)  # committed while no one listens
            third = await _transfer(c, 2)

            amounts = []
            for _ in range(2):
                n = await sub.__anext__()
                amounts.append(n["event"]["attrs"]["amount"])
            assert amounts == ["11", "12"]  # replayed from the cursor: nothing lost, nothing repeated
            assert sub.reconnects == 1 and sub.cursor[0] == third["height"] >= second["height"]
        await sub.aclose()
