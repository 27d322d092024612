"""``cairn light query``: a value proven against a header the light client verified.

    cairn light query --rpc URL (--trust HEIGHT:HASH | --genesis FILE) [--witness URL ...]
                      [--height H] [--trusting-period-s S]
                      account ADDR | job TASK_ID | result TASK_ID | payout TASK_ID |
                      provider ADDR | epoch N
    cairn light serve --rpc URL --genesis FILE [--witness URL ...] [--laddr HOST:PORT]

Prints the value (``null``: proven absent) with the height and header hash it was proven at;
a refusal is one line naming the check that failed (``node.light``), exit 1.  The wall clock
is the light client's ``now`` (the trusting period counts from the trusted header's time).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

KINDS = ("account", "job", "result", "payout", "provider", "epoch")


def cmd_light_query(args: argparse.Namespace) -> int:
    from genesis.build import build_genesis, validator_set
    from genesis.schema import load_genesis
    from node.cli import CliError, _client
    from node.light import LightError, LightSession, Source, query_key, show_value

    def now_ms() -> int:
        return int(time.time() * 1000)

    with _client(args) as client:
        try:
            status = client.call("node.status")
        except Exception as exc:
            raise CliError(f"light: {exc}") from None
        prefix = status.get("address_prefix", "cairn")
        primary = Source(client, prefix)
        witnesses = [Source(_witness(url), prefix) for url in args.witness or ()]
        period = args.trusting_period_s * 1000
        try:
            if args.genesis:
                try:
                    genesis = load_genesis(Path(args.genesis).read_bytes())
                except OSError as exc:
                    raise CliError(f"{args.genesis}: {exc.strerror or exc}") from None
                header = build_genesis(genesis).header
                session = LightSession.from_genesis(primary, header, validator_set(genesis), witnesses=witnesses,
                                                    now_ms=now_ms, trusting_period_ms=period)
            else:
                height, block_hash = _trust(args.trust)
                session = LightSession.from_trust(primary, status["chain_id"], height, block_hash,
                                                  witnesses=witnesses, now_ms=now_ms, trusting_period_ms=period)
            ident_text = args.id
            if args.kind in ("account", "provider"):
                from chain.keys import encode_address
                from node.cli import resolve_address

                ident_text = encode_address(resolve_address(args, args.id, prefix, args.kind), prefix)
            kind, ident, key = query_key(args.kind, ident_text, prefix)
            value, header = session.prove(kind, ident, key, args.height)
            shown = show_value(args.kind, value)
        except LightError as exc:
            raise CliError(f"light: refused, {exc}") from None
    doc: dict[str, Any] = {"query": args.kind, "id": args.id, "height": header.height,
                           "header_hash": bytes(header.hash()).hex(), "value": shown,
                           "warnings": session.warnings}
    print(json.dumps(doc, indent=None if args.json else 2, sort_keys=True))
    return 0


def cmd_light_serve(args: argparse.Namespace) -> int:
    """``cairn light serve``: the verifying proxy of ``node.light_proxy``, until Ctrl-C."""
    import trio

    from genesis.build import build_genesis, validator_set
    from genesis.schema import load_genesis
    from node.cli import CliError, _client
    from node.light import LightError, LightSession, Source
    from node.light_proxy import LightProxy, serve_proxy

    try:
        genesis = load_genesis(Path(args.genesis).read_bytes())
    except OSError as exc:
        raise CliError(f"{args.genesis}: {exc.strerror or exc}") from None
    host, _, port = args.laddr.rpartition(":")
    client = _client(args)
    prefix = genesis.params.address_prefix
    try:
        session = LightSession.from_genesis(Source(client, prefix), build_genesis(genesis).header,
                                            validator_set(genesis),
                                            witnesses=[Source(_witness(u), prefix) for u in args.witness or ()],
                                            now_ms=lambda: int(time.time() * 1000),
                                            trusting_period_ms=args.trusting_period_s * 1000)
    except LightError as exc:
        raise CliError(f"light: refused, {exc}") from None
    proxy = LightProxy(session, genesis.aicf, prefix)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(serve_proxy, proxy, host or "127.0.0.1", int(port))
            print(f"light proxy for {args.rpc} listening on {', '.join(urls)}", flush=True)

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
    return 0


def _witness(url: str) -> Any:
    from node.client import RpcClient

    return RpcClient(url)


def _trust(text: str | None) -> tuple[int, bytes]:
    from node.cli import CliError

    if not text or ":" not in text:
        raise CliError("--trust HEIGHT:HASH (or --genesis FILE) is required")
    height, _, hexhash = text.partition(":")
    try:
        block_hash = bytes.fromhex(hexhash)
    except ValueError:
        block_hash = b""
    if not height.isdigit() or len(block_hash) != 32:
        raise CliError("--trust: expected HEIGHT:HASH, the hash 64 hex digits")
    return int(height), block_hash


def add_parser(sub: Any, common: Any) -> None:
    light = sub.add_parser("light", help="a light client: values proven against verified headers")
    lsub = light.add_subparsers(dest="light_cmd", metavar="COMMAND")
    q = lsub.add_parser("query", help="a value proven against a header verified from a trusted one")
    common(q, rpc=True)
    q.add_argument("--trust", metavar="HEIGHT:HASH", help="the trusted header (a checkpoint you got out of band)")
    q.add_argument("--genesis", metavar="FILE", help="trust the chain's genesis file instead of --trust")
    q.add_argument("--witness", action="append", metavar="URL", help="another node to cross-check headers with "
                                                                     "(repeatable)")
    q.add_argument("--height", type=int, help="prove at this height (default: the node's head)")
    q.add_argument("--trusting-period-s", type=int, default=14 * 24 * 3600,
                   help="how long a trusted header may vouch for later ones (default two weeks)")
    q.add_argument("kind", choices=KINDS, help="what to prove")
    q.add_argument("id", help="an address, devnet:N or a key's name (account, provider), a task id (job, result, "
                              "payout) or an epoch number")
    q.add_argument("--keyring", help="keyring directory for key names (default $CAIRN_KEYRING, else ~/.cairn/keys)")
    q.set_defaults(func=cmd_light_query)
    sv = lsub.add_parser("serve", help="a local JSON-RPC endpoint that answers only what it verified")
    common(sv, rpc=True)
    sv.add_argument("--genesis", required=True, metavar="FILE", help="the chain's genesis file (the trusted start)")
    sv.add_argument("--witness", action="append", metavar="URL", help="another node to cross-check with (repeatable)")
    sv.add_argument("--laddr", default="127.0.0.1:26658", help="HOST:PORT to listen on (default 127.0.0.1:26658)")
    sv.add_argument("--trusting-period-s", type=int, default=14 * 24 * 3600,
                    help="how long a trusted header may vouch for later ones (default two weeks)")
    sv.set_defaults(func=cmd_light_serve)
