"""``cairn provider ...`` and ``cairn job ...``: the reference provider and the job views.

    cairn provider run --home DIR [--rpc URL] [--devnet-key N] [--backend builtin|openai
                       [--endpoint URL] [--model NAME]] [--models M,...] [--stake N]
    cairn provider show ADDRESS              a provider's record, health and leases
    cairn provider list
    cairn job list [--status S] [--provider ADDR] [--requester ADDR]
    cairn job show TASK_ID [--wait]          status, lease, result (and its output as text)
    cairn job revoke TASK_ID --from KEY      cancel a queued job you enqueued; refunds it

``provider run`` is ``node.provider.runner``; it logs one line per heartbeat, proof and
commitment, and stops on Ctrl-C.  Every other command reads the node's RPC (``aicf.*``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from node.display import show


def cmd_provider_run(args: argparse.Namespace) -> int:
    from node.cli import CliError, _client
    from node.logs import configure
    from node.provider.backends import BackendError, backend_from_args
    from node.provider.runner import DEFAULT_MODELS, Provider, provider_key, wait_for_node

    configure("console", "info")
    try:
        backend = backend_from_args(args.backend, endpoint=args.endpoint, model=args.model)
    except BackendError as exc:
        raise CliError(str(exc)) from None
    home = Path(args.home)
    models = tuple(sorted(m for m in args.models.split(",") if m)) if args.models else DEFAULT_MODELS
    with _client(args) as client:
        wait_for_node(client)
        provider = Provider(home, client, provider_key(home, args.devnet_key), backend, models=models,
                            stake=args.stake, region=args.region)
        try:
            provider.run(poll=args.poll)
        except KeyboardInterrupt:
            pass
    return 0


def output_text(kind: str, output: bytes) -> str:
    """An AI output as text; a quantum output (a histogram) as ``bits: count`` pairs."""
    if kind == "quantum":
        from chain.codec import decode
        from chain.errors import ChainError
        from proofs.quantum.commitment import Histogram

        try:
            counts = Histogram.from_value(decode(output)).as_dict()
        except ChainError:  # shown raw if it is not a histogram
            return output.hex()
        width = max((c.bit_length() for c in counts), default=1) or 1
        return ", ".join(f"{outcome:0{width}b}: {n}" for outcome, n in sorted(counts.items()))
    return output.decode("utf-8", "replace")


def _job_text(j: dict[str, Any]) -> str:
    lines = [f"job {j['task_id']}", f"  kind:     {j['kind']} ({j['lane']})", f"  status:   {j['status']}"
             + (f" ({j['end_reason']} at {j['end_height']})" if j.get("end_reason") else ""),
             f"  ceiling:  {j['ceiling']}  paid {j['paid']}  refunded {j['refunded']}",
             f"  deadline: {j['deadline']}  retries {j['retries']}"]
    for le in j["leases"]:
        lines.append(f"  lease:    {show(le['provider'])} since {le['assigned_height']}, expires {le['expires']}")
    result = j.get("result")
    if result:
        lines.append(f"  result:   by {show(result['provider'])} at {result['committed_height']}")
        if result["output"] is not None:
            lines.append(f"  output:   {output_text(j['kind'], bytes.fromhex(result['output']))}")
    return "\n".join(lines)


def _provider_text(p: dict[str, Any]) -> str:
    return "\n".join([
        f"provider {p['address']}", f"  status:  {p['status']}" + (f", jailed until {p['jailed_until']}"
                                                                  if p["jailed_until"] else ""),
        f"  serves:  {', '.join(p['kinds'])}: {', '.join(p['models'] + p['devices']) or '-'} ({p['region']})",
        f"  stake:   {p['stake']} (locked {p['locked']})", f"  health:  {p['health_bp']} bp, eligible {p['eligible']}",
        f"  leases:  {len(p['leases'])} of {p['max_leases']}, deadline {p['lease_deadline']}",
        f"  history: {p['completed']} completed, {p['failed']} failed, {p['missed']} missed"])


def cmd_provider_query(args: argparse.Namespace) -> None:
    from chain.keys import encode_address
    from node.cli import _client, _emit, resolve_address

    with _client(args) as client:
        if args.provider_cmd == "list":
            doc = client.call("aicf.listProviders")
            _emit(args, doc, lambda: "\n".join(_provider_text(p) for p in doc["providers"]) or "no providers")
            return
        prefix = client.call("node.status")["address_prefix"]
        address = encode_address(resolve_address(args, args.address, prefix, "address"), prefix)
        p = client.call("aicf.getProvider", address=address)
        _emit(args, p, lambda: _provider_text(p))


def cmd_job(args: argparse.Namespace) -> int:
    from chain.keys import encode_address
    from node.cli import _client, _emit, _next_nonce, _report_tx, _send, load_signer, resolve_address

    with _client(args) as client:
        if args.job_cmd == "show":
            import time

            deadline = time.monotonic() + args.timeout
            j = client.call("aicf.getJob", task_id=args.task_id)
            while args.wait and j["status"] in ("queued", "backoff", "leased") and time.monotonic() < deadline:
                time.sleep(0.2)
                j = client.call("aicf.getJob", task_id=args.task_id)
            _emit(args, j, lambda: _job_text(j))
            return 1 if args.wait and j["status"] in ("queued", "backoff", "leased") else 0
        status = client.call("node.status")
        prefix = status["address_prefix"]
        if args.job_cmd == "list":
            params: dict[str, Any] = {"status": args.status}
            for name in ("provider", "requester"):
                value = getattr(args, name)
                if value is not None:
                    params[name] = encode_address(resolve_address(args, value, prefix, f"--{name}"), prefix)
            doc = client.call("aicf.listJobs", **params)
            _emit(args, doc, lambda: "\n".join(f"{j['task_id']}  {j['kind']:<7} {j['status']:<8} {j['lane']}"
                                               for j in doc["jobs"]) or "no jobs")
            return 0
        key = load_signer(args, args.sender)
        nonce = _next_nonce(args, client, key, prefix)
        try:
            task = bytes.fromhex(args.task_id)
        except ValueError:
            task = b""
        if len(task) != 32:
            from node.cli import CliError

            raise CliError(f"task id {args.task_id!r} is not 64 hex characters")
        tx_hash = _send(args, client, status, key, nonce, "job_revoke", [task], args.gas_limit or 100_000)
        return _report_tx(args, client, tx_hash)


def add_parsers(sub: Any, common: Any, tx_options: Any) -> None:
    """The ``provider`` and ``job`` command groups."""
    from node.provider.runner import DEFAULT_STAKE

    prov = sub.add_parser("provider", help="run the reference compute provider, or look at providers")
    psub = prov.add_subparsers(dest="provider_cmd", metavar="COMMAND")
    sp = psub.add_parser("run", help="register, heartbeat, run assigned jobs and submit their proofs")
    common(sp, rpc=True)
    sp.add_argument("--home", required=True, help="the provider's directory (its key and progress)")
    sp.add_argument("--devnet-key", type=int, metavar="N", help="use the devnet provider key N (0..3)")
    sp.add_argument("--backend", default="builtin", choices=("builtin", "openai"),
                    help="builtin: a small deterministic model; openai: an OpenAI-compatible server")
    sp.add_argument("--endpoint", help="the server's base URL (--backend openai)")
    sp.add_argument("--model", help="the model name to ask the server for (--backend openai)")
    sp.add_argument("--models", help="comma-separated models to serve (default: every model genesis prices)")
    sp.add_argument("--stake", type=int, default=DEFAULT_STAKE, help=f"stake to bond (default {DEFAULT_STAKE})")
    sp.add_argument("--region", default="local", help="the region it advertises")
    sp.add_argument("--poll", type=float, default=0.5, help="seconds between passes")
    sp.set_defaults(func=cmd_provider_run)
    sp = psub.add_parser("show", help="a provider's record, health and leases")
    common(sp, rpc=True)
    sp.add_argument("address", help="an address, or the name of a key")
    sp.add_argument("--keyring", help="keyring directory (default $CAIRN_KEYRING, else ~/.cairn/keys)")
    sp.set_defaults(func=cmd_provider_query)
    sp = psub.add_parser("list", help="every registered provider")
    common(sp, rpc=True)
    sp.set_defaults(func=cmd_provider_query)

    job = sub.add_parser("job", help="AI and quantum jobs: their status, results and revocation")
    jsub = job.add_subparsers(dest="job_cmd", metavar="COMMAND")
    sp = jsub.add_parser("show", help="a job's status, lease and result")
    common(sp, rpc=True)
    sp.add_argument("task_id", help="the job's task id (hex)")
    sp.add_argument("--wait", action="store_true", help="wait until the job is resolved, expired or revoked")
    sp.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits (default 60; exit 1 after)")
    sp.set_defaults(func=cmd_job)
    sp = jsub.add_parser("list", help="jobs, newest first")
    common(sp, rpc=True)
    sp.add_argument("--status", choices=("queued", "backoff", "leased", "open", "resolved", "expired", "revoked"),
                    help="only jobs in this state (open: queued, backoff or leased)")
    sp.add_argument("--provider", help="jobs this provider holds or proved")
    sp.add_argument("--requester", help="jobs this contract enqueued")
    sp.add_argument("--keyring", help="keyring directory (default $CAIRN_KEYRING, else ~/.cairn/keys)")
    sp.set_defaults(func=cmd_job)
    sp = jsub.add_parser("revoke", help="cancel a queued job you enqueued (refunds its escrow)")
    sp.add_argument("task_id", help="the job's task id (hex)")
    tx_options(sp)
    sp.set_defaults(func=cmd_job)


__all__ = ["add_parsers"]
