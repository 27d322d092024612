"""Typed client methods, one per JSON-RPC method (generated from node/rpc/spec.py by
`python -m node.rpc.clientgen`; do not edit).  ``node.rpcclient`` binds them to transports."""

from __future__ import annotations

from typing import Any


class SyncMethods:
    """Every method of the spec, blocking; a subclass provides ``call``."""

    def call(self, method: str, /, **params: Any) -> Any:
        raise NotImplementedError

    def node_status(self) -> Any:
        """The node's identity and head."""
        return self.call("node.status")

    def node_health(self) -> Any:
        """Whether the node is keeping up with its chain."""
        return self.call("node.health")

    def chain_get_head(self) -> Any:
        """The head header."""
        return self.call("chain.getHead")

    def chain_get_genesis(self) -> Any:
        """The genesis document."""
        return self.call("chain.getGenesis")

    def chain_get_block(self, *, height: int | str | None = None, hash: str | None = None, full: bool | None = None) -> Any:
        """A block by height (default: the head) or hash."""
        return self.call("chain.getBlock", height=height, hash=hash, full=full)

    def chain_get_block_results(self, *, height: int | str | None = None) -> Any:
        """What a block's execution produced: receipts and its event log."""
        return self.call("chain.getBlockResults", height=height)

    def chain_search_blocks(self, query: str, *, cursor: str | None = None, limit: int | str | None = None) -> Any:
        """Heights whose blocks' events match a query (the node's event index)."""
        return self.call("chain.searchBlocks", query=query, cursor=cursor, limit=limit)

    def chain_get_commit(self, *, height: int | str | None = None) -> Any:
        """The commit that finalized a height."""
        return self.call("chain.getCommit", height=height)

    def chain_get_validators(self, *, height: int | str | None = None) -> Any:
        """The validator set that signs a height."""
        return self.call("chain.getValidators", height=height)

    def consensus_state(self) -> Any:
        """The consensus driver's round state."""
        return self.call("consensus.state")

    def consensus_params(self) -> Any:
        """The chain's consensus parameters and the AICF epoch parameters."""
        return self.call("consensus.params")

    def net_peers(self) -> Any:
        """Connected peers."""
        return self.call("net.peers")

    def mempool_pending(self, *, cursor: str | None = None, limit: int | str | None = None) -> Any:
        """The pending transactions, by hash."""
        return self.call("mempool.pending", cursor=cursor, limit=limit)

    def state_get_account(self, address: str, *, height: int | str | None = None) -> Any:
        """An account at a height."""
        return self.call("state.getAccount", address=address, height=height)

    def state_get_proof(self, *, address: str | None = None, height: int | str | None = None, kind: str | None = None, id: Any = None) -> Any:
        """A Merkle proof of an account or another record."""
        return self.call("state.getProof", address=address, height=height, kind=kind, id=id)

    def tx_send(self, tx: str) -> Any:
        """Submit a signed transaction to the mempool."""
        return self.call("tx.send", tx=tx)

    def tx_send_batch(self, txs: list[Any]) -> Any:
        """Submit signed transactions, each admitted or refused on its own."""
        return self.call("tx.sendBatch", txs=txs)

    def tx_get(self, hash: str) -> Any:
        """A transaction, pending or committed."""
        return self.call("tx.get", hash=hash)

    def tx_get_receipt(self, hash: str) -> Any:
        """A committed transaction's receipt."""
        return self.call("tx.getReceipt", hash=hash)

    def tx_search(self, query: str, *, cursor: str | None = None, limit: int | str | None = None) -> Any:
        """Committed transactions by their events' attributes (the node's event index)."""
        return self.call("tx.search", query=query, cursor=cursor, limit=limit)

    def contract_call(self, address: str, method: str, *, args: str | None = None, caller: str | None = None, gas_limit: int | str | None = None) -> Any:
        """A read-only contract call at the head."""
        return self.call("contract.call", address=address, method=method, args=args, caller=caller, gas_limit=gas_limit)

    def contract_get_code(self, address: str) -> Any:
        """A contract's code."""
        return self.call("contract.getCode", address=address)

    def aicf_list_providers(self, *, cursor: int | str | None = None, limit: int | str | None = None) -> Any:
        """A page of registered providers."""
        return self.call("aicf.listProviders", cursor=cursor, limit=limit)

    def aicf_get_provider(self, address: str) -> Any:
        """A provider's record."""
        return self.call("aicf.getProvider", address=address)

    def aicf_list_jobs(self, *, status: str | None = None, provider: str | None = None, requester: str | None = None, cursor: int | str | None = None, limit: int | str | None = None) -> Any:
        """A page of jobs, newest first, filtered."""
        return self.call("aicf.listJobs", status=status, provider=provider, requester=requester, cursor=cursor, limit=limit)

    def aicf_get_job(self, task_id: str) -> Any:
        """A job's AICF record, receipt, request and result."""
        return self.call("aicf.getJob", task_id=task_id)

    def aicf_submit_proof(self, envelope: str) -> Any:
        """Submit a proof envelope to the proof pool."""
        return self.call("aicf.submitProof", envelope=envelope)

    def aicf_get_epoch(self, *, epoch: int | str | None = None, cursor: int | str | None = None, limit: int | str | None = None) -> Any:
        """A settled epoch's record and payouts, or the epoch in progress."""
        return self.call("aicf.getEpoch", epoch=epoch, cursor=cursor, limit=limit)

    def aicf_get_payout(self, task_id: str) -> Any:
        """What a resolved job paid, per replica."""
        return self.call("aicf.getPayout", task_id=task_id)

    def aicf_get_balance(self, address: str) -> Any:
        """What the fund paid a provider and still owes it."""
        return self.call("aicf.getBalance", address=address)

    def cap_get_job(self, task_id: str) -> Any:
        """A job's capability receipt."""
        return self.call("cap.getJob", task_id=task_id)

    def cap_read_result(self, task_id: str) -> Any:
        """A job's result as a contract would read it."""
        return self.call("cap.readResult", task_id=task_id)

    def evidence_submit(self, evidence: str) -> Any:
        """Submit double-sign evidence (a light client's report of conflicting headers)."""
        return self.call("evidence.submit", evidence=evidence)

    def rpc_discover(self) -> Any:
        """This API's OpenRPC document."""
        return self.call("rpc.discover")


class AsyncMethods:
    """Every method of the spec, awaitable; a subclass provides ``call``."""

    async def call(self, method: str, /, **params: Any) -> Any:
        raise NotImplementedError

    async def node_status(self) -> Any:
        """The node's identity and head."""
        return await self.call("node.status")

    async def node_health(self) -> Any:
        """Whether the node is keeping up with its chain."""
        return await self.call("node.health")

    async def chain_get_head(self) -> Any:
        """The head header."""
        return await self.call("chain.getHead")

    async def chain_get_genesis(self) -> Any:
        """The genesis document."""
        return await self.call("chain.getGenesis")

    async def chain_get_block(self, *, height: int | str | None = None, hash: str | None = None, full: bool | None = None) -> Any:
        """A block by height (default: the head) or hash."""
        return await self.call("chain.getBlock", height=height, hash=hash, full=full)

    async def chain_get_block_results(self, *, height: int | str | None = None) -> Any:
        """What a block's execution produced: receipts and its event log."""
        return await self.call("chain.getBlockResults", height=height)

    async def chain_search_blocks(self, query: str, *, cursor: str | None = None, limit: int | str | None = None) -> Any:
        """Heights whose blocks' events match a query (the node's event index)."""
        return await self.call("chain.searchBlocks", query=query, cursor=cursor, limit=limit)

    async def chain_get_commit(self, *, height: int | str | None = None) -> Any:
        """The commit that finalized a height."""
        return await self.call("chain.getCommit", height=height)

    async def chain_get_validators(self, *, height: int | str | None = None) -> Any:
        """The validator set that signs a height."""
        return await self.call("chain.getValidators", height=height)

    async def consensus_state(self) -> Any:
        """The consensus driver's round state."""
        return await self.call("consensus.state")

    async def consensus_params(self) -> Any:
        """The chain's consensus parameters and the AICF epoch parameters."""
        return await self.call("consensus.params")

    async def net_peers(self) -> Any:
        """Connected peers."""
        return await self.call("net.peers")

    async def mempool_pending(self, *, cursor: str | None = None, limit: int | str | None = None) -> Any:
        """The pending transactions, by hash."""
        return await self.call("mempool.pending", cursor=cursor, limit=limit)

    async def state_get_account(self, address: str, *, height: int | str | None = None) -> Any:
        """An account at a height."""
        return await self.call("state.getAccount", address=address, height=height)

    async def state_get_proof(self, *, address: str | None = None, height: int | str | None = None, kind: str | None = None, id: Any = None) -> Any:
        """A Merkle proof of an account or another record."""
        return await self.call("state.getProof", address=address, height=height, kind=kind, id=id)

    async def tx_send(self, tx: str) -> Any:
        """Submit a signed transaction to the mempool."""
        return await self.call("tx.send", tx=tx)

    async def tx_send_batch(self, txs: list[Any]) -> Any:
        """Submit signed transactions, each admitted or refused on its own."""
        return await self.call("tx.sendBatch", txs=txs)

    async def tx_get(self, hash: str) -> Any:
        """A transaction, pending or committed."""
        return await self.call("tx.get", hash=hash)

    async def tx_get_receipt(self, hash: str) -> Any:
        """A committed transaction's receipt."""
        return await self.call("tx.getReceipt", hash=hash)

    async def tx_search(self, query: str, *, cursor: str | None = None, limit: int | str | None = None) -> Any:
        """Committed transactions by their events' attributes (the node's event index)."""
        return await self.call("tx.search", query=query, cursor=cursor, limit=limit)

    async def contract_call(self, address: str, method: str, *, args: str | None = None, caller: str | None = None, gas_limit: int | str | None = None) -> Any:
        """A read-only contract call at the head."""
        return await self.call("contract.call", address=address, method=method, args=args, caller=caller, gas_limit=gas_limit)

    async def contract_get_code(self, address: str) -> Any:
        """A contract's code."""
        return await self.call("contract.getCode", address=address)

    async def aicf_list_providers(self, *, cursor: int | str | None = None, limit: int | str | None = None) -> Any:
        """A page of registered providers."""
        return await self.call("aicf.listProviders", cursor=cursor, limit=limit)

    async def aicf_get_provider(self, address: str) -> Any:
        """A provider's record."""
        return await self.call("aicf.getProvider", address=address)

    async def aicf_list_jobs(self, *, status: str | None = None, provider: str | None = None, requester: str | None = None, cursor: int | str | None = None, limit: int | str | None = None) -> Any:
        """A page of jobs, newest first, filtered."""
        return await self.call("aicf.listJobs", status=status, provider=provider, requester=requester, cursor=cursor, limit=limit)

    async def aicf_get_job(self, task_id: str) -> Any:
        """A job's AICF record, receipt, request and result."""
        return await self.call("aicf.getJob", task_id=task_id)

    async def aicf_submit_proof(self, envelope: str) -> Any:
        """Submit a proof envelope to the proof pool."""
        return await self.call("aicf.submitProof", envelope=envelope)

    async def aicf_get_epoch(self, *, epoch: int | str | None = None, cursor: int | str | None = None, limit: int | str | None = None) -> Any:
        """A settled epoch's record and payouts, or the epoch in progress."""
        return await self.call("aicf.getEpoch", epoch=epoch, cursor=cursor, limit=limit)

    async def aicf_get_payout(self, task_id: str) -> Any:
        """What a resolved job paid, per replica."""
        return await self.call("aicf.getPayout", task_id=task_id)

    async def aicf_get_balance(self, address: str) -> Any:
        """What the fund paid a provider and still owes it."""
        return await self.call("aicf.getBalance", address=address)

    async def cap_get_job(self, task_id: str) -> Any:
        """A job's capability receipt."""
        return await self.call("cap.getJob", task_id=task_id)

    async def cap_read_result(self, task_id: str) -> Any:
        """A job's result as a contract would read it."""
        return await self.call("cap.readResult", task_id=task_id)

    async def evidence_submit(self, evidence: str) -> Any:
        """Submit double-sign evidence (a light client's report of conflicting headers)."""
        return await self.call("evidence.submit", evidence=evidence)

    async def rpc_discover(self) -> Any:
        """This API's OpenRPC document."""
        return await self.call("rpc.discover")
