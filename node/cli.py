"""The ``cairn`` command line.

Every command prints human-readable text, or one JSON document with ``--json``.
Errors print one line ``error: ...`` on stderr and exit 1; usage errors exit 2.

    cairn init [--home H] [--devnet] [--chain-id ID] [--fund ADDR=AMOUNT ...]
    cairn run [--home H]
    cairn devnet [--home H]                   init with the built-in devnet genesis if needed, then run
    cairn check [--home H]                    offline consistency check of a stopped node's data
    cairn keys new|list|show NAME             keyring in $CAIRN_KEYRING or ~/.cairn/keys
    cairn tx transfer --from NAME --to ADDR --amount N [--fee F] [--gas-limit G] [--wait]
    cairn tx deploy FILE.wasm --from NAME [--init-arg TYPE:VALUE ... | --init-args-hex HEX] [--wait]
    cairn tx call ADDR METHOD --from NAME [--arg TYPE:VALUE ... | --args-hex HEX] [--value N] [--wait]
    cairn query account ADDR | block [HEIGHT|HASH] | tx HASH
    cairn query contract ADDR METHOD [--arg TYPE:VALUE ... | --args-hex HEX] [--returns TYPE,...]
    cairn proofs verify --kind sev-snp|sgx|tdx|groth16 ... (see node/cli_proofs.py)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from capabilities.abi import decode_values, parse_arg, parse_types
from chain.errors import ChainError, DecodeError
from chain.keys import PrivateKey, decode_address, encode_address
from chain.onion import Onion
from chain.params import ChainParams
from chain.tx import TxBody
from chain.types import Address
from node.client import NodeUnreachable, RpcClient, RpcClientError
from node.display import show, show_time
from node.home import Home, read_key, write_key

DEFAULT_RPC = "http://127.0.0.1:26657"
ONION_LENGTH = 500_000
"""Layers of a new validator's beacon onion: one per block it proposes."""
DEFAULT_HOME = os.environ.get("CAIRN_HOME", str(Path.home() / ".cairn" / "node"))
CALL_GAS = 5_000_000
"""Default gas limit of ``tx call`` (unused gas is refunded)."""
DEPLOY_INIT_GAS = 5_000_000
"""Gas a ``tx deploy`` allows its constructor, on top of the intrinsic and per-byte code gas."""
TX_OVERHEAD_BYTES = 400
"""Generous size of a signed transaction around its payload, for the intrinsic-gas estimate."""


class CliError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


def _emit(args: argparse.Namespace, doc: Any, text: str | Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(text() if callable(text) else text)


# --- keys ---------------------------------------------------------------------------


def keyring_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "keyring", None) or os.environ.get("CAIRN_KEYRING") or Path.home() / ".cairn" / "keys")


def _key_path(args: argparse.Namespace, name: str) -> Path:
    if not name or "/" in name or name.startswith(".") or len(name) > 64:
        raise CliError(f"invalid key name {name!r}")
    return keyring_dir(args) / f"{name}.json"


def load_signer(args: argparse.Namespace, name: str) -> PrivateKey:
    """A keyring entry, or ``devnet:N`` for the public devnet account keys."""
    if name.startswith("devnet:"):
        from genesis.devnet import DEVNET_ACCOUNTS, devnet_account_key

        index = name.split(":", 1)[1]
        if not index.isdigit() or int(index) >= DEVNET_ACCOUNTS:
            raise CliError(f"no devnet key {name!r}: the devnet keys are devnet:0 .. devnet:{DEVNET_ACCOUNTS - 1}")
        return devnet_account_key(int(index))
    path = _key_path(args, name)
    if not path.exists():
        raise CliError(f"no key named {name!r} in {keyring_dir(args)}")
    return read_key(path)


def resolve_address(args: argparse.Namespace, text: str, prefix: str, what: str) -> Address:
    """An address given as bech32 (``cairn1...``), as ``devnet:N``, or as a keyring key's name;
    ``CliError`` naming ``what`` (the flag or argument) otherwise."""
    if text.startswith("devnet:") or _key_path_or_none(args, text) is not None:
        return load_signer(args, text).address
    try:
        return decode_address(text, prefix)
    except DecodeError as exc:
        raise CliError(f"{what}: {exc.message} (give an address, devnet:N or the name of a key)") from None


def _key_path_or_none(args: argparse.Namespace, name: str) -> Path | None:
    """The keyring file of ``name`` if it names an existing key."""
    try:
        path = _key_path(args, name)
    except CliError:  # not a key name at all
        return None
    return path if path.exists() else None


def _key_doc(name: str, key: PrivateKey, prefix: str) -> dict[str, Any]:
    return {"name": name, "address": encode_address(key.address, prefix), "pubkey": bytes(key.public_key).hex()}


def cmd_keys(args: argparse.Namespace) -> None:
    prefix = args.prefix
    if args.keys_cmd == "new":
        path = _key_path(args, args.name)
        if path.exists():
            raise CliError(f"a key named {args.name!r} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        key = PrivateKey.from_seed(os.urandom(32))
        write_key(path, key)
        doc = _key_doc(args.name, key, prefix)
        _emit(args, doc, f"{args.name}  {doc['address']}")
    elif args.keys_cmd == "list":
        d = keyring_dir(args)
        docs = [_key_doc(p.stem, read_key(p), prefix) for p in sorted(d.glob("*.json"))] if d.is_dir() else []
        _emit(args, docs, lambda: "\n".join(f"{k['name']}  {k['address']}" for k in docs) or "(no keys)")
    else:
        doc = _key_doc(args.name, load_signer(args, args.name), prefix)
        _emit(args, doc, f"name:    {doc['name']}\naddress: {doc['address']}\npubkey:  {doc['pubkey']}")


# --- node ---------------------------------------------------------------------------


def _parse_fund(items: Sequence[str], prefix: str) -> list[tuple[Address, int]]:
    out: list[tuple[Address, int]] = []
    for item in items:
        addr, sep, amount = item.partition("=")
        if not sep or not amount.isdigit():
            raise CliError(f"--fund expects ADDRESS=AMOUNT, got {item!r}")
        out.append((decode_address(addr, prefix), int(amount)))
    return out


def cmd_init(args: argparse.Namespace) -> None:
    from genesis.devnet import DEVNET_ONION_LENGTH, devnet_genesis, devnet_onion_seed, devnet_validator_key
    from genesis.schema import Genesis, GenesisValidator, load_genesis, parse_genesis
    from node.network import plan, write_network

    home = Home(Path(args.home))
    if args.validators < 1:
        raise CliError("--validators must be at least 1")
    if args.genesis:  # join an existing chain as a full node (a fresh key, not a validator)
        try:
            genesis = load_genesis(Path(args.genesis).read_bytes())
        except OSError as exc:
            raise CliError(f"--genesis {args.genesis}: {exc.strerror}") from None
        key = PrivateKey.from_seed(os.urandom(32))
        home.init(genesis, key, rpc=args.rpc_laddr, p2p=args.p2p_laddr, peers=tuple(args.peer or []))
        _emit(args, {"home": str(home.path), "chain_id": genesis.chain_id, "node_id": bytes(key.address).hex()},
              f"initialized full node {home.path} for chain {genesis.chain_id} (node id {bytes(key.address).hex()})")
        return
    if args.devnet:
        keys = [devnet_validator_key(i) for i in range(args.validators)]
        onions = [(devnet_onion_seed(i), DEVNET_ONION_LENGTH) for i in range(args.validators)]
        genesis = devnet_genesis(args.validators)
    else:
        keys = [PrivateKey.from_seed(os.urandom(32)) for _ in range(args.validators)]
        onions = [(os.urandom(32), ONION_LENGTH) for _ in range(args.validators)]
        base = devnet_genesis(1)
        balances = dict(_parse_fund(args.fund or [], base.params.address_prefix))
        genesis = parse_genesis(Genesis(
            chain_id=args.chain_id, genesis_time_ms=time.time_ns() // 1_000_000 // 1000 * 1000,
            initial_balances=tuple(sorted(balances.items())),
            validators=tuple(GenesisValidator(f"validator-{i}", k.public_key, 100, Onion(*onions[i]).tip)
                             for i, k in enumerate(keys)),
        ).to_json())  # validate what we are about to write
    if args.validators > 1:
        rpc_port = int(args.rpc_laddr.rpartition(":")[2])
        hosts = [h for h in (args.hosts or "").split(",") if h]
        members = plan(home.path, keys, onions, hosts=hosts, rpc_base=rpc_port)
        write_network(members, genesis)
        vals = [{"home": str(m.home.path), "rpc": m.rpc, "p2p": m.p2p,
                 "address": encode_address(m.key.address, genesis.params.address_prefix)} for m in members]
        doc = {"home": str(home.path), "chain_id": genesis.chain_id, "validators": vals}
        _emit(args, doc, "\n".join(f"{v['home']}  rpc {v['rpc']}  p2p {v['p2p']}  {v['address']}" for v in vals))
        return
    key = keys[0]
    home.init(genesis, key, rpc=args.rpc_laddr, p2p=args.p2p_laddr, peers=tuple(args.peer or []), onion=onions[0])
    doc = {"home": str(home.path), "chain_id": genesis.chain_id,
           "validator": encode_address(key.address, genesis.params.address_prefix)}
    _emit(args, doc, f"initialized {home.path} for chain {genesis.chain_id} (validator {doc['validator']})")


def _run(home: Home) -> None:
    import trio

    from node.logs import configure
    from node.service import run_home

    config = home.load_config()
    configure(config.log_format, config.log_level)
    try:
        trio.run(run_home, home)
    except KeyboardInterrupt:
        pass
    except BaseExceptionGroup as group:
        _, rest = group.split(KeyboardInterrupt)
        if rest is None:
            return
        leaves = []
        stack: list[BaseException] = [rest]
        while stack:
            e = stack.pop()
            stack.extend(e.exceptions) if isinstance(e, BaseExceptionGroup) else leaves.append(e)
        if len(leaves) == 1 and isinstance(leaves[0], (OSError, ChainError)):
            raise leaves[0] from None
        raise


def cmd_run(args: argparse.Namespace) -> None:
    home = Home(Path(args.home))
    if not home.exists():
        raise CliError(f"{home.path} holds no node; run `cairn init --home {home.path}` first")
    _run(home)


def cmd_devnet(args: argparse.Namespace) -> None:
    from genesis.devnet import DEVNET_ONION_LENGTH, devnet_genesis, devnet_onion_seed, devnet_validator_key
    from node.network import plan, provider_command, supervise, write_network

    home = Home(Path(args.home))
    provider_home = home.path / "provider"
    if args.validators == 1:
        if not home.exists():
            home.init(devnet_genesis(1), devnet_validator_key(0), rpc=args.rpc_laddr,
                      onion=(devnet_onion_seed(0), DEVNET_ONION_LENGTH), index_events=True)
            print(f"initialized devnet home {home.path}", file=sys.stderr)
        config = home.load_config()
        rpc = f"{config.rpc_host}:{config.rpc_port}"
        _refuse_busy([rpc] if config.rpc_port else [])
        child = None
        if args.provider and config.rpc_port:
            import subprocess

            from node.logs import NAME_VARIABLE
            from node.network import provider_command

            child = subprocess.Popen(provider_command(provider_home, rpc, 0), env={**os.environ, NAME_VARIABLE: "provider"})
            print(f"reference provider: home {provider_home}, devnet provider key 0 (`cairn provider list`)",
                  file=sys.stderr)
        try:
            _run(home)
        finally:
            if child is not None:
                child.terminate()
                child.wait(timeout=15)
        return

    members = plan(home.path, [devnet_validator_key(i) for i in range(args.validators)],
                   [(devnet_onion_seed(i), DEVNET_ONION_LENGTH) for i in range(args.validators)],
                   rpc_base=int(args.rpc_laddr.rpartition(":")[2]))
    if not all(m.home.exists() for m in members):
        if any(m.home.exists() for m in members):
            raise CliError(f"{home.path} holds a partial devnet; remove it or use the same --validators")
        write_network(members, devnet_genesis(args.validators))
        print(f"initialized a {args.validators}-validator devnet in {home.path}", file=sys.stderr)
    _refuse_busy([a for m in members for a in (m.rpc, m.p2p)])
    for i, m in enumerate(members):
        print(f"validator {i}: home {m.home.path}, rpc http://{m.rpc}, p2p {m.p2p}", file=sys.stderr)
    extra = [("provider", provider_command(provider_home, members[0].rpc, 0))] if args.provider else []
    supervise([m.home for m in members], extra)


def _refuse_busy(addresses: list[str]) -> None:
    """Stop before starting anything if a port the devnet needs is taken (another node, ``make run``)."""
    from node.network import first_busy

    busy = first_busy(addresses)
    if busy is not None:
        raise CliError(f"{busy} is already in use (another node running? `make run`?); "
                       "choose other ports with --rpc-laddr HOST:PORT (validator i uses PORT+10i, p2p PORT-1+10i)")


def cmd_check(args: argparse.Namespace) -> None:
    from node.check import check_home

    report = check_home(Home(Path(args.home)))
    _emit(args, report, f"ok: head {report['height']} {report['head_hash'][:16]}…, "
                        f"state root {report['state_root'][:16]}… matches {report['accounts']} flat entries")


# --- transactions and queries ---------------------------------------------------------


def _client(args: argparse.Namespace) -> RpcClient:
    return RpcClient(args.rpc)


def _wait_receipt(client: RpcClient, tx_hash: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.call("tx.getReceipt", hash=tx_hash)
        except RpcClientError as exc:
            if exc.data is None or exc.data.get("name") != "NOT_FOUND" or time.monotonic() > deadline:
                if time.monotonic() > deadline:
                    raise CliError(f"transaction {tx_hash} not committed within {timeout:.0f}s") from None
                raise
        time.sleep(0.1)


def _send(args: argparse.Namespace, client: RpcClient, status: dict[str, Any], key: PrivateKey, nonce: int,
          kind: str, payload: Any, gas_limit: int) -> str:
    """Sign a ``kind`` transaction (fee = gas × min gas price unless ``--fee``) and send it; its hash."""
    fee = args.fee if args.fee is not None else gas_limit * status.get("min_gas_price", 1)
    body = TxBody(status["chain_id"], nonce, key.public_key, fee, gas_limit, kind, payload)
    return str(client.call("tx.send", tx=body.sign(key).raw.hex())["hash"])


def _next_nonce(args: argparse.Namespace, client: RpcClient, key: PrivateKey, prefix: str) -> int:
    if args.nonce is not None:
        return int(args.nonce)
    return int(client.call("state.getAccount", address=encode_address(key.address, prefix))["next_nonce"])


def _report_tx(args: argparse.Namespace, client: RpcClient, tx_hash: str, extra: dict[str, Any] | None = None) -> int:
    """Print the hash (or, with ``--wait``, the receipt) with ``extra`` fields; exit 1 for a failed receipt."""
    shown: dict[str, Any] = extra or {}
    if not args.wait:
        _emit(args, {"hash": tx_hash, **shown},
              lambda: "\n".join([tx_hash, *(f"{k}: {v}" for k, v in shown.items())]))
        return 0
    receipt = _wait_receipt(client, tx_hash, args.timeout)
    if receipt["status"] != "ok":
        shown = {}  # a failed deploy created no contract: no address to show
    receipt = {**receipt, **shown}
    _emit(args, receipt, lambda: "\n".join([_receipt_text(receipt), *(f"  {k}: {v}" for k, v in shown.items())]))
    return 0 if receipt["status"] == "ok" else 1


def cmd_tx_transfer(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.call("node.status")
        prefix = status["address_prefix"]
        key = load_signer(args, args.sender)
        to = resolve_address(args, args.to, prefix, "--to")
        nonce = _next_nonce(args, client, key, prefix)
        tx_hash = _send(args, client, status, key, nonce, "transfer", [bytes(to), args.amount], args.gas_limit)
        return _report_tx(args, client, tx_hash)


# --- contracts ------------------------------------------------------------------------


def _read_arg_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"@{path}: {exc.strerror or exc}") from None


def _call_data(items: Sequence[str] | None, hex_text: str | None, prefix: str, flag: str = "--arg") -> bytes:
    """The argument bytes from ``--arg TYPE:VALUE`` items (capabilities/abi.py) or ``--args-hex``."""
    from chain.vm.runtime import MAX_ARGS_BYTES  # (wasmtime: imported only by the contract commands)

    if hex_text is not None:
        try:
            data = bytes.fromhex(hex_text[2:] if hex_text[:2] in ("0x", "0X") else hex_text)
        except ValueError:
            raise CliError(f"{flag}s-hex: not hex") from None
    else:
        parts = []
        for text in items or []:
            try:
                parts.append(parse_arg(text, prefix=prefix, read_file=_read_arg_file))
            except DecodeError as exc:
                raise CliError(f"{flag} {text[:60]!r}: {exc.message}") from None
        data = b"".join(parts)
    if len(data) > MAX_ARGS_BYTES:
        raise CliError(f"arguments are {len(data)} bytes; at most {MAX_ARGS_BYTES}")
    return data


def _contract(text: str, prefix: str) -> Address:
    try:
        return decode_address(text, prefix)
    except DecodeError as exc:
        raise CliError(f"contract address: {exc.message}") from None


def deploy_gas(code: bytes, init_args_len: int, params: ChainParams | None = None) -> int:
    """The default gas limit of a deploy: intrinsic (estimated) + code bytes + the compile
    gas of ``chain.vm.deploy_rules`` (none for code those rules refuse) + ``DEPLOY_INIT_GAS``."""
    from chain.vm.deploy_rules import compile_gas, scan
    from chain.vm.engine import ModuleError

    p = params or ChainParams()
    intrinsic = p.tx_base_gas + p.tx_byte_gas * (len(code) + init_args_len + TX_OVERHEAD_BYTES)
    try:
        compiling = compile_gas(scan(code), p.compile_gas_per_ms)
    except ModuleError:
        compiling = 0  # the deploy will fail with the rule's reason in its receipt
    return intrinsic + p.code_byte_gas * len(code) + compiling + DEPLOY_INIT_GAS


def cmd_tx_deploy(args: argparse.Namespace) -> int:
    from chain.vm.runtime import contract_address

    try:
        code = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror or exc}") from None
    _check_wasm(args.file, code)
    with _client(args) as client:
        status = client.call("node.status")
        prefix = status["address_prefix"]
        init_args = _call_data(args.init_arg, args.init_args_hex, prefix, "--init-arg")
        key = load_signer(args, args.sender)
        nonce = _next_nonce(args, client, key, prefix)
        gas_limit = args.gas_limit if args.gas_limit is not None else deploy_gas(code, len(init_args))
        tx_hash = _send(args, client, status, key, nonce, "deploy", [code, init_args], gas_limit)
        # known before the deploy lands: the address depends only on the sender and the nonce
        address = encode_address(contract_address(key.address, nonce), prefix)
        return _report_tx(args, client, tx_hash, {"address": address})


def _check_wasm(name: str, code: bytes) -> None:
    """Refuse, before signing, bytes the chain's engine would not even validate
    (``Engine.precheck``): the chain refuses them too, but only after charging the deploy.
    (A valid module that breaks a deploy rule is left to the chain, whose receipt names it.)"""
    from chain.vm.engine import Engine, ModuleError

    try:
        Engine().precheck(code)
    except ModuleError as exc:
        raise CliError(f"{name} is not a valid WebAssembly module ({exc.message}); nothing was sent") from None


def cmd_tx_call(args: argparse.Namespace) -> int:
    from chain.vm.runtime import MAX_VALUE

    with _client(args) as client:
        status = client.call("node.status")
        prefix = status["address_prefix"]
        contract = _contract(args.address, prefix)
        data = _call_data(args.arg, args.args_hex, prefix, "--arg")
        if args.value > MAX_VALUE:
            raise CliError(f"--value: at most {MAX_VALUE}")
        key = load_signer(args, args.sender)
        nonce = _next_nonce(args, client, key, prefix)
        gas_limit = args.gas_limit if args.gas_limit is not None else CALL_GAS
        payload = [bytes(contract), args.method, data, args.value]
        return _report_tx(args, client, _send(args, client, status, key, nonce, "call", payload, gas_limit))


COLLATERAL_GAS = 2_000_000
"""Default gas of ``tx collateral``: the update's own gas plus 10 per byte of a 60 KiB document."""


def cmd_tx_collateral(args: argparse.Namespace) -> int:
    from aicf.collateral import MAX_DOCUMENT_BYTES

    if args.tee == "SEV-SNP":
        if args.fmspc is not None:
            raise CliError("--fmspc: only for SGX and TDX collateral")
        fmspc = b""
    else:
        try:
            fmspc = bytes.fromhex(args.fmspc or "")
        except ValueError:
            fmspc = b""
        if len(fmspc) != 6:
            raise CliError("--fmspc: SGX and TDX collateral needs the platform's FMSPC, 12 hex digits")
    try:
        document = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror or exc}") from None
    if len(document) > MAX_DOCUMENT_BYTES:
        raise CliError(f"{args.file}: larger than the {MAX_DOCUMENT_BYTES} bytes an update may carry")
    with _client(args) as client:
        status = client.call("node.status")
        key = load_signer(args, args.sender)
        nonce = _next_nonce(args, client, key, status["address_prefix"])
        gas_limit = args.gas_limit if args.gas_limit is not None else COLLATERAL_GAS
        payload = [args.tee, fmspc, document]
        return _report_tx(args, client, _send(args, client, status, key, nonce, "collateral_update", payload,
                                              gas_limit))


def _value_json(type_: str, value: Any, prefix: str) -> Any:
    """A decoded value for JSON: u64 an integer, u256 a decimal string, addr bech32m, bytes/hash hex."""
    if type_ == "u256":
        return str(value)
    if type_ == "addr":
        return encode_address(value, prefix)
    if isinstance(value, bytes):
        return value.hex()
    return value


def cmd_query_contract(args: argparse.Namespace) -> int:
    types = None
    if args.returns is not None:
        try:
            types = parse_types(args.returns)
        except DecodeError as exc:
            raise CliError(f"--returns: {exc.message}") from None
    with _client(args) as client:
        prefix = client.call("node.status")["address_prefix"]
        _contract(args.address, prefix)
        data = _call_data(args.arg, args.args_hex, prefix, "--arg")
        if args.caller is not None:
            try:
                decode_address(args.caller, prefix)
            except DecodeError as exc:
                raise CliError(f"--caller: {exc.message}") from None
        doc = dict(client.call("contract.call", address=args.address, method=args.method, args=data.hex(),
                               caller=args.caller, gas_limit=args.gas_limit))
    if types is not None and doc["ok"]:
        try:
            values = decode_values(types, bytes.fromhex(doc["return"]))
        except DecodeError as exc:
            raise CliError(f"--returns: the return data ({len(doc['return']) // 2} bytes) does not decode: "
                           f"{exc.message}") from None
        doc["decoded"] = [_value_json(t, v, prefix) for t, v in zip(types, values, strict=True)]

    def text() -> str:
        head = "ok" if doc["ok"] else f"failed ({doc['reason']})"
        lines = [f"{head}, gas used {doc['gas_used']}, at height {doc['height']}", f"return:  {doc['return']}"]
        if "decoded" in doc:
            lines.append(f"decoded: {json.dumps(doc['decoded'])}")
        lines += [f"event:   {e['module']}.{e['name']} {json.dumps(e['attrs'], sort_keys=True)}" for e in doc["events"]]
        return "\n".join(lines)

    _emit(args, doc, text)
    return 0 if doc["ok"] else 1


def _receipt_text(r: dict[str, Any]) -> str:
    lines = [f"tx {r['tx_hash']}", f"  status:   {r['status']}" + (f" ({r['reason']})" if r["reason"] else ""),
             f"  block:    {r['height']} {r['block_hash']}", f"  gas used: {r['gas_used']}",
             f"  fee paid: {r['fee_paid']}"]
    for e in r["events"]:
        lines.append(f"  event:    {e['module']}.{e['name']} {json.dumps(e['attrs'], sort_keys=True)}")
    return "\n".join(lines)


def cmd_query(args: argparse.Namespace) -> None:
    with _client(args) as client:
        if args.query_cmd == "account":
            prefix = client.call("node.status")["address_prefix"]
            address = encode_address(resolve_address(args, args.address, prefix, "address"), prefix)
            a = client.call("state.getAccount", address=address, height=args.height)
            _emit(args, a, f"address: {a['address']}\nbalance: {a['balance']}\nnonce:   {a['nonce']}\n"
                           f"height:  {a['height']}")
        elif args.query_cmd == "block":
            ref = args.ref
            params: dict[str, Any] = {"full": args.full}
            if ref is None:
                pass
            elif ref.isdigit():
                params["height"] = int(ref)
            else:
                params["hash"] = ref
            b = client.call("chain.getBlock", **params)
            h = b["header"]
            def block_text() -> str:
                lines = [f"block {h['height']} {b['hash']}", f"  time:       {show_time(h['time_ms'])}",
                         f"  proposer:   {show(h['proposer'])}", f"  txs:        {len(b['txs'])}",
                         f"  state_root: {h['state_root']}"]
                if args.full:  # one line per transaction: hash, kind, sender, nonce
                    lines += [f"  tx {t['hash']}  {t['kind']:<8} from {t['sender']} nonce {t['nonce']}"
                              for t in b["txs"]]
                return "\n".join(lines)

            _emit(args, b, block_text)
        else:
            t = client.call("tx.get", hash=args.hash)
            doc = dict(t)
            if t["status"] == "committed":
                doc["receipt"] = client.call("tx.getReceipt", hash=args.hash)
            tx = t["tx"]

            def text() -> str:
                s = f"tx {tx['hash']} ({t['status']}" + (f" at height {t['height']})" if "height" in t else ")")
                s += f"\n  kind:  {tx['kind']}\n  from:  {tx['sender']}\n  nonce: {tx['nonce']}\n  fee:   {tx['fee']}"
                if "receipt" in doc:
                    s += f"\n  result: {doc['receipt']['status']} {doc['receipt']['reason']}".rstrip()
                return s

            _emit(args, doc, text)


# --- argument parsing -----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    json_errors = False
    """Set by ``main`` when the command line asks for ``--json``: usage errors are JSON too."""

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            print(json.dumps({"error": {"code": USAGE_ERROR, "message": f"{self.prog}: {message}"}}), file=sys.stderr)
        else:
            print(f"error: {self.prog}: {message}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cairn", description="Cairn node and client")
    p.add_argument("--version", action="version", version=f"cairn {_version()}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, *, rpc: bool = False, home: bool = False) -> None:
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        if rpc:
            sp.add_argument("--rpc", default=os.environ.get("CAIRN_RPC", DEFAULT_RPC), help="node RPC URL")
        if home:
            sp.add_argument("--home", default=DEFAULT_HOME, help="node home directory")

    sp = sub.add_parser("init", help="write a genesis, key and config into a home directory")
    common(sp, home=True)
    sp.add_argument("--devnet", action="store_true", help="use the built-in devnet genesis and keys")
    sp.add_argument("--chain-id", default="cairn-local", help="chain id of a new genesis (default cairn-local)")
    sp.add_argument("--fund", action="append", metavar="ADDR=AMOUNT", help="initial balance (repeatable)")
    sp.add_argument("--rpc-laddr", default="127.0.0.1:26657", help="JSON-RPC listen address HOST:PORT")
    sp.add_argument("--p2p-laddr", default="127.0.0.1:26656", help="p2p listen address HOST:PORT")
    sp.add_argument("--validators", type=_nonneg_int, default=1,
                    help="N > 1 writes HOME/v0..v{N-1}, one home per validator, sharing one genesis")
    sp.add_argument("--hosts", help="comma-separated hosts of the N validators (default 127.0.0.1)")
    sp.add_argument("--genesis", help="join the chain of this genesis.json as a full node")
    sp.add_argument("--peer", action="append", metavar="ID@HOST:PORT", help="persistent peer (repeatable)")
    sp.set_defaults(func=cmd_init)

    sp = sub.add_parser("run", help="run the node in a home directory")
    common(sp, home=True)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("devnet", help="run a devnet on loopback (initializing it if needed)")
    common(sp, home=True)
    sp.add_argument("--rpc-laddr", default="127.0.0.1:26657", help="validator 0's JSON-RPC address HOST:PORT")
    sp.add_argument("--validators", type=_nonneg_int, default=1,
                    help="N validator processes (RPC ports base+10i, p2p base-1+10i)")
    sp.add_argument("--no-provider", dest="provider", action="store_false",
                    help="do not start the reference provider (HOME/provider, devnet provider key 0)")
    sp.set_defaults(func=cmd_devnet)

    sp = sub.add_parser("check", help="check a stopped node's data for consistency")
    common(sp, home=True)
    sp.set_defaults(func=cmd_check)

    keys = sub.add_parser("keys", help="manage signing keys")
    ksub = keys.add_subparsers(dest="keys_cmd", metavar="COMMAND")
    for name, what in (("new", "make a new key"), ("list", "list the keyring's keys"),
                       ("show", "show a key's address and public key")):
        kp = ksub.add_parser(name, help=what)
        common(kp)
        kp.add_argument("--keyring", help=KEYRING_HELP)
        kp.add_argument("--prefix", default="cairn", help="address prefix")
        if name != "list":
            kp.add_argument("name", help="the key's name" + ("" if name == "new" else ", or devnet:N"))
        kp.set_defaults(func=cmd_keys)

    tx = sub.add_parser("tx", help="sign and send transactions")
    tsub = tx.add_subparsers(dest="tx_cmd", metavar="COMMAND")
    tp = tsub.add_parser("transfer", help="send units to an address")
    common(tp, rpc=True)
    tp.add_argument("--keyring", help=KEYRING_HELP)
    tp.add_argument("--from", dest="sender", required=True, help="key name, or devnet:N")
    tp.add_argument("--to", required=True, help="an address, devnet:N, or the name of a key")
    tp.add_argument("--amount", required=True, type=_transfer_amount, help="units to send (at least 1)")
    tp.add_argument("--fee", type=_nonneg_int, help="default: gas limit × the minimum gas price")
    tp.add_argument("--gas-limit", type=_nonneg_int, default=20_000, help="default 20,000 (a transfer's gas)")
    tp.add_argument("--nonce", type=_nonneg_int, help="default: the sender's next nonce")
    tp.add_argument("--wait", action="store_true", help="wait for the commit and print the receipt")
    tp.add_argument("--timeout", type=float, default=30.0, help="seconds --wait waits (default 30)")
    tp.set_defaults(func=cmd_tx_transfer)

    def signed(sp: argparse.ArgumentParser, gas_help: str) -> None:
        common(sp, rpc=True)
        sp.add_argument("--keyring", help=KEYRING_HELP)
        sp.add_argument("--from", dest="sender", required=True, help="key name, or devnet:N")
        sp.add_argument("--fee", type=_nonneg_int, help="default: gas limit × the minimum gas price")
        sp.add_argument("--gas-limit", "--gas", dest="gas_limit", type=_nonneg_int, help=gas_help)
        sp.add_argument("--nonce", type=_nonneg_int, help="default: the sender's next nonce")
        sp.add_argument("--wait", action="store_true", help="wait for the commit and print the receipt")
        sp.add_argument("--timeout", type=float, default=30.0, help="seconds --wait waits (default 30)")

    def call_args(sp: argparse.ArgumentParser, flag: str) -> None:
        group = sp.add_mutually_exclusive_group()
        group.add_argument(f"--{flag}", action="append", metavar="TYPE:VALUE",
                           help="typed argument (u64, u256, addr, hash, bytes, str; bytes/str take @FILE); repeatable")
        group.add_argument(f"--{flag}s-hex", metavar="HEX", help="the argument bytes, already encoded")

    tp = tsub.add_parser("deploy", help="deploy a contract (prints its address)")
    signed(tp, f"default: intrinsic + code bytes × code gas + compile gas + {DEPLOY_INIT_GAS:,} for init")
    tp.add_argument("file", help="the contract's .wasm file")
    call_args(tp, "init-arg")
    tp.set_defaults(func=cmd_tx_deploy)

    tp = tsub.add_parser("call", help="call a contract method in a transaction")
    signed(tp, f"default: {CALL_GAS:,}")
    tp.add_argument("address", help="the contract's address")
    tp.add_argument("method", help="the exported method to call")
    call_args(tp, "arg")
    tp.add_argument("--value", type=_nonneg_int, default=0, help="units sent to the contract")
    tp.set_defaults(func=cmd_tx_call)

    tp = tsub.add_parser("collateral", help="submit Intel SGX/TDX collateral (TCB info, QE identity, CRLs) "
                         "to the chain's collateral store")
    signed(tp, f"default: {COLLATERAL_GAS:,}")
    tp.add_argument("--tee", required=True, choices=("SGX", "TDX", "SEV-SNP"), help="the TEE the collateral is for")
    tp.add_argument("--fmspc", help="SGX/TDX: the platform's FMSPC, 12 hex digits (the TCB info's fmspc)")
    tp.add_argument("file", help="SGX/TDX: a collateral JSON document (the format `cairn proofs verify "
                    "--collateral` reads); SEV-SNP: an AMD KDS CRL (DER or PEM)")
    tp.set_defaults(func=cmd_tx_collateral)

    from node.cli_jobs import add_parsers as add_job_parsers
    from node.cli_proofs import add_parser as add_proofs_parser

    add_job_parsers(sub, common, lambda sp: signed(sp, "default: 100,000"))

    add_proofs_parser(sub, common)

    from node.cli_light import add_parser as add_light_parser

    add_light_parser(sub, common)

    q = sub.add_parser("query", help="read chain data")
    qsub = q.add_subparsers(dest="query_cmd", metavar="COMMAND")
    qp = qsub.add_parser("account", help="an account's balance and nonce")
    common(qp, rpc=True)
    qp.add_argument("address", help="an address, devnet:N, or the name of a key in the keyring")
    qp.add_argument("--keyring", help=KEYRING_HELP)
    qp.add_argument("--height", type=_nonneg_int, help="read the state after this block (default: the head)")
    qp.set_defaults(func=cmd_query)
    qp = qsub.add_parser("block", help="a block's header and transactions")
    common(qp, rpc=True)
    qp.add_argument("ref", nargs="?", help="height or hash (default: head)")
    qp.add_argument("--full", action="store_true", help="the transactions themselves, not only their hashes")
    qp.set_defaults(func=cmd_query)
    qp = qsub.add_parser("tx", help="a transaction and, once committed, its receipt")
    common(qp, rpc=True)
    qp.add_argument("hash", help="the transaction's hash")
    qp.set_defaults(func=cmd_query)
    qp = qsub.add_parser("contract", help="a read-only contract call against the head state")
    common(qp, rpc=True)
    qp.add_argument("address", help="the contract's address")
    qp.add_argument("method", help="the exported method to call")
    call_args(qp, "arg")
    qp.add_argument("--returns", metavar="TYPE,...", help="decode the return data as these types")
    qp.add_argument("--caller", metavar="ADDR", help="the caller the contract sees (default: the zero address)")
    qp.add_argument("--gas-limit", "--gas", dest="gas_limit", type=_nonneg_int,
                    help="default and cap: the chain's max_query_gas")
    qp.set_defaults(func=cmd_query_contract)
    return p


def _nonneg_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _transfer_amount(text: str) -> int:
    amount = _nonneg_int(text)
    if amount == 0:  # the chain refuses zero transfers (TX_BAD_PAYLOAD): say so before signing
        raise argparse.ArgumentTypeError("a transfer moves at least 1 unit, got 0")
    return amount


KEYRING_HELP = "keyring directory (default $CAIRN_KEYRING, else ~/.cairn/keys)"

CLI_ERROR = 1
"""``code`` of a ``--json`` error the CLI found itself (a bad value, a missing key, ...); exit 1."""
USAGE_ERROR = 2
"""``code`` of a ``--json`` error in the command line itself (an unknown flag, ...); exit 2."""
UNREACHABLE = 3
"""``code`` of a ``--json`` error when no node answered at ``--rpc``; exit 1."""
IO_ERROR = 4
"""``code`` of a ``--json`` error from the operating system (a file, a port); exit 1."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cairn")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def _fail(args: argparse.Namespace | None, code: int, message: str) -> None:
    """One line on stderr: ``error: MESSAGE``, or under ``--json`` ``{"error": {"code", "message"}}``.

    ``code`` is the chain's or the JSON-RPC error code when the node or the chain refused
    (``docs/RPC.md``), else ``CLI_ERROR``, ``UNREACHABLE`` or ``IO_ERROR``.
    """
    if args is not None and getattr(args, "json", False):
        print(json.dumps({"error": {"code": code, "message": message}}), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    _Parser.json_errors = "--json" in (argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(argv)
    if args.cmd is None:  # a bare `cairn`
        parser.print_help()
        return 0
    if not hasattr(args, "func"):  # `cairn tx`, `cairn query`, ...: that group's help
        try:
            parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        except SystemExit as done:
            return int(done.code or 0)
    try:
        rc = args.func(args)
        return int(rc or 0)
    except RpcClientError as exc:
        _fail(args, exc.code, f"{exc.message} (code {exc.code})")
    except (CliError, NodeUnreachable) as exc:
        _fail(args, UNREACHABLE if isinstance(exc, NodeUnreachable) else CLI_ERROR, str(exc))
    except ChainError as exc:  # HomeError among them
        _fail(args, int(exc.code), exc.message)
    except BrokenPipeError:
        pass
    except OSError as exc:
        _fail(args, IO_ERROR, str(exc.strerror or exc))
    return 1


if __name__ == "__main__":
    sys.exit(main())
