// The Cairn dashboard: reads the node over its JSON-RPC (POST /) and follows /ws.
// Plain JS, no build step, nothing loaded from elsewhere.  Every value from the chain is
// put into the page as text (never as HTML): prompts and outputs are anyone's bytes.
"use strict";

(() => {
  const RECENT_BLOCKS = 12;
  const JOBS_SHOWN = 25;
  const EPOCHS_SHOWN = 6;
  const EVENTS_SHOWN = 60;
  const WS_TOPICS = ["newHeads", "jobAssigned", "jobCompleted", "jobExpired", "providerSlashed", "epochSettled"];
  const NOT_FOUND = 600;

  const state = {
    head: null,
    blocks: new Map(),        // height -> {block, commit}
    validators: null,         // chain.getValidators
    epochs: new Map(),        // settled epoch number -> its record (immutable once settled)
    latestSettled: 0,
    openTask: null,
    openEpoch: null,
    jobSig: "",
  };

  // --- small helpers ------------------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "style") Object.assign(e.style, v);  // CSSOM: the page's CSP refuses style attributes
      else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  const short = (hex, n = 10) => (hex && hex.length > n + 2 ? `${hex.slice(0, n)}…` : hex || "");
  const shortAddr = (a) => (a && a.length > 20 ? `${a.slice(0, 12)}…${a.slice(-6)}` : a || "");
  const hashEl = (hex, n) => el("code", {class: "hash", title: hex}, short(hex, n));
  const addrEl = (a) => (a ? el("code", {class: "addr", title: a}, shortAddr(a)) : dash());
  const dash = () => el("span", {class: "muted"}, "–");
  const amount = (s) => (s === undefined || s === null ? "–" : String(s).replace(/\B(?=(\d{3})+(?!\d))/g, ","));
  const pct = (bp) => `${(bp / 100).toFixed(2)} %`;
  const isoTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z";

  function hexText(hex) {
    if (!hex) return null;
    const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
    const bytes = new Uint8Array(clean.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.substr(2 * i, 2), 16);
    try {
      return new TextDecoder("utf-8", {fatal: true}).decode(bytes);
    } catch {
      return null;
    }
  }

  function badge(status) {
    return el("span", {class: `badge s-${status}`, data: {status}}, status);
  }

  function kv(rows) {
    return el("dl", {class: "kv"}, rows.filter(Boolean).map(([k, v, id]) => [
      el("dt", {}, k), el("dd", {id}, v === undefined || v === null || v === "" ? dash() : v)]));
  }

  // --- JSON-RPC -----------------------------------------------------------------------------

  class RpcError extends Error {
    constructor(method, error) {
      super(`${method}: ${error.message}`);
      this.code = error.code;
    }
  }

  let nextId = 1;

  async function post(body) {
    const res = await fetch("/", {method: "POST", headers: {"content-type": "application/json"},
                                  body: JSON.stringify(body)});
    return res.json();
  }

  async function rpc(method, params = {}) {
    const doc = await post({jsonrpc: "2.0", id: nextId++, method, params});
    if (doc.error) throw new RpcError(method, doc.error);
    return doc.result;
  }

  // Several calls in one request (a JSON-RPC batch); each answer is a result or an RpcError.
  async function batch(calls) {
    if (!calls.length) return [];
    const first = nextId;
    nextId += calls.length;
    const docs = await post(calls.map(([method, params], i) => ({jsonrpc: "2.0", id: first + i, method, params})));
    const byId = new Map(docs.map((d) => [d.id, d]));
    return calls.map(([method], i) => {
      const d = byId.get(first + i);
      return d && !d.error ? d.result : new RpcError(method, d ? d.error : {message: "no answer"});
    });
  }

  async function optional(method, params) {
    try {
      return await rpc(method, params);
    } catch (e) {
      if (e.code === NOT_FOUND) return null;
      throw e;
    }
  }

  function showError(e) {
    const box = $("#error");
    if (e) {
      box.textContent = String(e.message || e);
      box.hidden = false;
      console.error(e);
    } else {
      box.hidden = true;
    }
  }

  // Keyed rows: a row whose data did not change stays the same element (no flicker, and a
  // test's locator keeps pointing at it); new rows flash once.
  function syncRows(tbody, items, keyOf, render, emptyText, columns) {
    if (!items.length) {
      tbody.replaceChildren(el("tr", {class: "empty"}, el("td", {colspan: columns}, emptyText)));
      return;
    }
    const old = new Map([...tbody.children].map((r) => [r.dataset.key, r]));
    const first = !tbody.dataset.filled;
    const rows = items.map((item) => {
      const key = String(keyOf(item));
      const sig = JSON.stringify(item);
      const prev = old.get(key);
      if (prev && prev.dataset.sig === sig) return prev;
      const row = render(item);
      row.dataset.key = key;
      row.dataset.sig = sig;
      if (!prev && !first) {
        row.classList.add("fresh");
        row.addEventListener("animationend", () => row.classList.remove("fresh"), {once: true});
      }
      return row;
    });
    // Move only what is out of place: re-inserting a row would restart its animation.
    rows.forEach((row, i) => {
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
    });
    while (tbody.children.length > rows.length) tbody.lastChild.remove();
    tbody.dataset.filled = "1";
  }

  // --- the head and blocks ------------------------------------------------------------------

  function setHead(header) {
    if (state.head && header.height <= state.head.height) return;
    state.head = header;
    const h = $("#head-height");
    h.textContent = String(header.height);
    h.dataset.height = String(header.height);
    $("#head-hash").textContent = short(header.hash, 16);
    $("#head-hash").title = header.hash;
    $("#head-time").textContent = isoTime(header.time_ms);
    $("#chain-id").textContent = header.chain_id;
  }

  async function loadBlocks(heights) {
    const want = heights.filter((h) => h >= 1 && !state.blocks.has(h));
    const answers = await batch(want.flatMap((h) => [["chain.getBlock", {height: h}], ["chain.getCommit", {height: h}]]));
    want.forEach((h, i) => {
      const block = answers[2 * i];
      const commit = answers[2 * i + 1];
      if (block instanceof Error) throw block;
      state.blocks.set(h, {block, commit: commit instanceof Error ? null : commit.commit});
    });
    const keep = [...state.blocks.keys()].sort((a, b) => b - a).slice(0, RECENT_BLOCKS);
    for (const h of [...state.blocks.keys()]) if (!keep.includes(h)) state.blocks.delete(h);
    renderBlocks();
    renderValidators();
  }

  function signers(commit) {
    return new Set((commit ? commit.signatures : []).filter((s) => s.signature).map((s) => s.validator));
  }

  function renderBlocks() {
    const items = [...state.blocks.entries()].sort((a, b) => b[0] - a[0]).map(([h, {block, commit}]) => ({
      height: h, hash: block.hash, time: block.header.time_ms, txs: block.txs.length, proofs: block.proofs.length,
      evidence: block.evidence.length, proposer: block.header.proposer, signed: commit ? signers(commit).size : null,
      of: commit ? commit.signatures.length : null,
    }));
    syncRows($("#blocks tbody"), items, (b) => b.height, (b) => el("tr", {data: {height: b.height}},
      el("td", {class: "num"}, b.height), el("td", {}, hashEl(b.hash, 16)), el("td", {}, isoTime(b.time)),
      el("td", {class: "num"}, b.txs), el("td", {class: "num"}, b.proofs), el("td", {class: "num"}, b.evidence),
      el("td", {}, addrEl(b.proposer)), el("td", {}, b.signed === null ? dash() : `${b.signed}/${b.of}`)),
    "no blocks yet", 8);
  }

  // --- validators ---------------------------------------------------------------------------

  async function loadValidators() {
    const hash = state.head ? state.head.next_validators_hash : null;
    if (state.validators && state.validators.hash === hash) return;
    state.validators = await rpc("chain.getValidators");
    renderValidators();
  }

  function renderValidators() {
    const set = state.validators;
    if (!set) return;
    $("#validators-hash").textContent = short(set.hash, 12);
    $("#validators-hash").title = `validator set hash ${set.hash}`;
    const heights = [...state.blocks.keys()].sort((a, b) => a - b);
    const items = set.validators.map((v) => {
      const record = heights.map((h) => {
        const c = state.blocks.get(h).commit;
        return [h, c ? (signers(c).has(v.address) ? 1 : 0) : -1];
      });
      return {address: v.address, power: v.power, share: Math.round((v.power * 10000) / set.total_power), record};
    });
    syncRows($("#validators tbody"), items, (v) => v.address, (v) => {
      const known = v.record.filter(([, s]) => s >= 0);
      const signed = known.filter(([, s]) => s === 1).length;
      return el("tr", {data: {validator: v.address, signed, of: known.length}},
        el("td", {}, addrEl(v.address)),
        el("td", {class: "num", title: `${pct(v.share)} of the voting power`}, amount(v.power)),
        el("td", {}, el("span", {class: "strip"}, v.record.map(([h, s]) => el("span", {
          class: `sig ${s === 1 ? "yes" : s === 0 ? "no" : "unknown"}`, data: {height: h, signed: s},
          title: `height ${h}: ${s === 1 ? "signed" : s === 0 ? "missed" : "no commit"}`})))),
        el("td", {class: "num"}, `${signed}/${known.length}`));
    }, "no validators", 4);
  }

  // --- jobs ---------------------------------------------------------------------------------

  function jobProvider(job) {
    if (job.results && job.results.length) return job.results[0].provider;
    if (job.leases && job.leases.length) return job.leases[0].provider;
    return null;
  }

  async function loadJobs() {
    const [list, open, current] = await batch([
      ["aicf.listJobs", {limit: JOBS_SHOWN}], ["aicf.listJobs", {status: "open", limit: 100}],
      ["aicf.getEpoch", {epoch: state.latestSettled + 1}]]);
    if (list instanceof Error) throw list;
    renderQueue(open instanceof Error ? null : open.jobs, current instanceof Error ? null : current);
    syncRows($("#jobs tbody"), list.jobs, (j) => j.task_id, (j) => {
      const lease = j.leases && j.leases.length ? j.leases[0] : null;
      const result = j.results && j.results.length ? j.results[0] : null;
      return el("tr", {data: {task: j.task_id, status: j.status}},
        el("td", {}, hashEl(j.task_id, 12)), el("td", {}, j.lane), el("td", {}, badge(j.status)),
        el("td", {}, addrEl(jobProvider(j))),
        el("td", {}, lease ? `${lease.assigned_height} → ${lease.expires}` : dash()),
        el("td", {class: "num"}, j.enqueue_height), el("td", {class: "num"}, amount(j.ceiling)),
        el("td", {class: "num"}, result ? amount(j.paid) : dash()),
        el("td", {}, result ? hashEl(result.proof_hash, 10) : dash()),
        el("td", {}, el("button", {type: "button", class: "open-job", data: {task: j.task_id},
                                   onclick: () => openJob(j.task_id)}, "open")));
    }, "no jobs yet: a contract's enqueue shows up here", 10);
  }

  function renderQueue(open, epoch) {
    const counts = {queued: 0, backoff: 0, leased: 0};
    for (const j of open || []) counts[j.status] = (counts[j.status] || 0) + 1;
    const chip = (name, value, title) => el("span", {class: "chip", id: `queue-${name}`, data: {value}, title},
      el("span", {class: "muted"}, name), " ", el("b", {}, value));
    $("#queue").replaceChildren(
      chip("queued", counts.queued, "jobs waiting for a lease"),
      chip("backoff", counts.backoff, "jobs waiting to be retried"),
      chip("leased", counts.leased, "jobs a provider is working on"),
      epoch ? chip("claims", epoch.queued_claims, `paid claims waiting for the end of epoch ${epoch.epoch}`) : null,
      epoch ? chip("to pay", amount(epoch.queued_amount), `their price, paid at the end of epoch ${epoch.epoch}`) : null);
  }

  async function openJob(task) {
    state.openTask = task;
    state.jobSig = "";
    $("#sec-job").hidden = false;
    $("#job-title").textContent = short(task, 20);
    $("#job-title").title = task;
    $("#job-detail").dataset.task = task;
    await loadJob();
    $("#sec-job").scrollIntoView({block: "nearest"});
  }

  async function loadJob() {
    const task = state.openTask;
    if (!task) return;
    const [job, payout] = await batch([["aicf.getJob", {task_id: task}], ["aicf.getPayout", {task_id: task}]]);
    if (task !== state.openTask) return;
    if (job instanceof Error) throw job;
    const paid = payout instanceof Error ? null : payout;
    if (payout instanceof Error && payout.code !== NOT_FOUND) throw payout;
    const sig = JSON.stringify([job, paid && paid.shares]);
    if (sig === state.jobSig) return;
    state.jobSig = sig;
    renderJob(job, paid);
  }

  function renderJob(job, payout) {
    const box = $("#job-detail");
    box.dataset.task = job.task_id;
    box.dataset.status = job.status;
    const req = job.request || {};
    const reqRows = Object.entries(req).filter(([k]) => k !== "kind").map(([k, v]) => [k,
      typeof v === "object" ? el("code", {}, JSON.stringify(v)) : String(v)]);
    const result = job.result;
    const text = result && result.output ? hexText(result.output) : null;
    const output = !result ? el("p", {class: "muted", id: "job-output", data: {state: "none"}}, "no result yet")
      : result.output === null ? el("p", {class: "muted", id: "job-output", data: {state: "offchain"}},
                                   `held off chain; digest ${result.output_digest}`)
        : el("pre", {class: "output", id: "job-output", data: {state: text === null ? "hex" : "text"}},
             text === null ? result.output : text);
    box.replaceChildren(
      el("div", {class: "cols"},
        el("div", {}, el("h3", {}, "Job"), kv([
          ["status", badge(job.status), "job-status"],
          ["kind", `${job.kind} (${job.lane})`],
          ["requester", addrEl(job.requester)],
          ["signed by", addrEl(job.origin)],
          ["enqueued", `height ${job.enqueue_height}`],
          ["deadline", `height ${job.deadline}`],
          ["ceiling", amount(job.ceiling)],
          ["retries", job.retries],
          job.end_height ? ["ended", `height ${job.end_height}: ${job.end_reason}`] : null,
          ["paid", amount(job.paid)],
          ["refunded", amount(job.refunded)],
        ])),
        el("div", {}, el("h3", {}, "Request"), kv(reqRows))),
      el("h3", {}, "Leases"),
      table(["provider", "assigned", "expires", "beacon"], job.leases, (l) => [addrEl(l.provider), l.assigned_height,
        l.expires, hashEl(l.assign_beacon, 10)], "no open lease", "job-leases"),
      el("h3", {}, "Verified results"),
      table(["provider", "output digest", "proof", "units", "QoS", "price", "height"], job.results, (r) => [
        addrEl(r.provider), hashEl(r.output_digest, 12), hashEl(r.proof_hash, 12), r.units, pct(r.qos_bp),
        amount(r.price), r.height], "none yet", "job-results"),
      el("h3", {}, "Result"),
      output,
      el("h3", {}, "Payout"),
      renderPayout(job, payout),
      el("div", {class: "actions"},
        el("button", {type: "button", id: "proof-result", class: "proof-button", data: {kind: "result"},
                      disabled: !result, onclick: () => showProof("result", job.task_id)}, "Proof of the result"),
        el("button", {type: "button", id: "proof-payout", class: "proof-button", data: {kind: "payout"},
                      disabled: !payout, onclick: () => showProof("payout", job.task_id)}, "Proof of the payout")));
  }

  function renderPayout(job, payout) {
    if (!payout) {
      const next = state.epochs.get(state.latestSettled);
      const end = next ? next.end_height + (next.end_height - next.start_height + 1) : null;
      const why = job.status !== "resolved" ? "paid once the job resolves and its epoch settles"
        : `awaiting settlement of epoch ${state.latestSettled + 1}${end ? ` (ends at height ${end})` : ""}`;
      return el("div", {id: "job-payout", data: {state: "pending"}}, el("p", {class: "muted"}, why));
    }
    return el("div", {id: "job-payout", data: {state: "paid", epoch: payout.shares[0] ? payout.shares[0].epoch : ""}},
      payoutTable(payout.shares.map((s) => ({...s, task_id: payout.task_id}))));
  }

  function table(headers, rows, cells, emptyText, id) {
    if (!rows || !rows.length) return el("p", {class: "muted", id}, emptyText);
    return el("table", {class: "data", id}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, cells(r).map((c) => el("td", {}, c))))));
  }

  function payoutTable(shares) {
    const t = (k) => shares.reduce((sum, s) => sum + BigInt(s[k]), 0n);
    const total = t("price");
    const part = (k, cls, label) => {
      const v = t(k);
      const w = total > 0n ? Number((v * 10000n) / total) / 100 : 0;
      return el("span", {class: `part ${cls}`, style: {width: `${w}%`}, title: `${label}: ${amount(v)}`});
    };
    return el("div", {class: "payout"},
      el("div", {class: "split", title: "provider / producer / fund"},
        part("provider_share", "provider", "provider"), part("producer_share", "producer", "producer"),
        part("fund_share", "fund", "fund")),
      el("p", {class: "legend"},
        el("span", {class: "key provider"}), "provider ", el("b", {class: "share-provider"}, amount(t("provider_share"))),
        el("span", {class: "key producer"}), "producer ", el("b", {class: "share-producer"}, amount(t("producer_share"))),
        el("span", {class: "key fund"}), "fund ", el("b", {class: "share-fund"}, amount(t("fund_share"))),
        el("span", {class: "muted"}, ` of ${amount(total)}`)),
      table(["task", "provider", "producer", "epoch", "units (milli)", "base rate", "weight", "latency", "availability",
             "QoS", "price", "provider", "producer", "fund"], shares, (s) => [
        el("a", {href: "#", onclick: (e) => { e.preventDefault(); openJob(s.task_id).catch(showError); }},
           short(s.task_id, 10)),
        addrEl(s.provider), addrEl(s.producer), s.epoch, amount(s.units_milli), amount(s.base_rate), pct(s.weight_bp),
        pct(s.latency_bp), pct(s.availability_bp), pct(s.qos_bp), amount(s.price), amount(s.provider_share),
        amount(s.producer_share), amount(s.fund_share)], "no payouts"));
  }

  // --- light-client proofs ------------------------------------------------------------------

  async function showProof(kind, task) {
    const p = await rpc("state.getProof", {kind, id: task});
    const h = p.header;
    const matches = p.state_root === h.state_root;
    const box = $("#proof");
    box.dataset.kind = kind;
    box.dataset.task = task;
    box.dataset.height = String(p.height);
    const mono = (text, id) => el("code", {class: "wrap", id}, text);
    box.replaceChildren(
      el("p", {class: "muted"}, `The ${kind} record of job ${short(task, 16)}, proved against the state root of the `
        + `header at height ${p.height}. A light client checks the header's commit, then the Merkle proof of the key `
        + "and value against that root (docs/RPC.md, \"Verifying a state answer\")."),
      kv([
        ["kind", p.kind, "proof-kind"],
        ["key", mono(p.key, "proof-key")],
        ["value", p.value === null ? "absent (a proof of non-membership)" : mono(p.value, "proof-value")],
        ["state root", mono(p.state_root, "proof-root")],
        ["height", String(p.height), "proof-height"],
        ["proof", mono(p.proof, "proof-proof")],
      ]),
      el("h3", {}, "Header"),
      kv([
        ["height", String(h.height), "proof-header-height"],
        ["hash", mono(h.hash, "proof-header-hash")],
        ["state root", el("span", {}, mono(h.state_root, "proof-header-root"), " ",
          el("span", {class: `check ${matches ? "ok" : "bad"}`, id: "proof-root-check", data: {ok: matches}},
             matches ? "= the proof's root" : "≠ the proof's root"))],
        ["proposer", addrEl(h.proposer)],
        ["time", isoTime(h.time_ms)],
        ["raw", el("details", {}, el("summary", {}, `${h.raw.length / 2} bytes`), mono(h.raw, "proof-header-raw"))],
      ]));
    $("#sec-proof").hidden = false;
    $("#sec-proof").scrollIntoView({block: "nearest"});
  }

  // --- providers ----------------------------------------------------------------------------

  async function loadProviders() {
    const page = await rpc("aicf.listProviders", {limit: 100});
    syncRows($("#providers tbody"), page.providers, (p) => p.address, (p) => {
      const jailed = p.jailed_until > (state.head ? state.head.height : 0);
      const status = jailed ? "jailed" : p.status;
      const health = Math.min(p.health_bp, 10000);
      return el("tr", {data: {provider: p.address, status, eligible: p.eligible}},
        el("td", {}, addrEl(p.address), el("div", {class: "muted small"}, `${p.region} · ${p.kinds.join(", ")}`)),
        el("td", {}, badge(status), p.eligible ? el("span", {class: "muted small"}, " eligible") : null),
        el("td", {title: `health ${pct(p.health_bp)}; heartbeat at ${p.heartbeat_height}`},
          el("span", {class: "bar"}, el("span", {class: "fill", style: {width: `${health / 100}%`}})), " ", pct(p.health_bp)),
        el("td", {class: "num", title: `locked ${amount(p.locked)}`}, amount(p.stake)),
        el("td", {class: "num"}, `${p.leases.length}/${p.max_leases}`),
        el("td", {class: "num"}, `${p.completed} / ${p.failed} / ${p.missed}`),
        el("td", {class: "num"}, amount(p.slashed)), el("td", {class: "num"}, amount(p.paid)));
    }, "no provider registered", 8);
  }

  // --- epochs -------------------------------------------------------------------------------

  async function loadEpochs() {
    const latest = await optional("aicf.getEpoch", {});
    const calls = [];
    if (latest) {
      state.latestSettled = latest.epoch;
      state.epochs.set(latest.epoch, latest);
      for (let e = latest.epoch - 1; e >= Math.max(1, latest.epoch - EPOCHS_SHOWN + 1); e--) {
        if (!state.epochs.has(e)) calls.push(["aicf.getEpoch", {epoch: e}]);
      }
    }
    calls.push(["aicf.getEpoch", {epoch: state.latestSettled + 1}]);
    const answers = await batch(calls);
    let current = null;
    for (const a of answers) {
      if (a instanceof Error) throw a;
      if (a.settled) state.epochs.set(a.epoch, a);
      else current = a;
    }
    const rows = [];
    if (current) rows.push(current);
    for (let e = state.latestSettled; e >= Math.max(1, state.latestSettled - EPOCHS_SHOWN + 1); e--) {
      if (state.epochs.has(e)) rows.push(state.epochs.get(e));
    }
    syncRows($("#epochs tbody"), rows, (e) => e.epoch, (e) => e.settled
      ? el("tr", {data: {epoch: e.epoch, settled: "true"}},
        el("td", {class: "num"}, e.epoch), el("td", {}, `${e.start_height}–${e.end_height}`),
        el("td", {class: "num"}, e.payouts), el("td", {class: "num"}, amount(e.paid_provider)),
        el("td", {class: "num"}, amount(e.paid_producer)), el("td", {class: "num"}, amount(e.retained)),
        el("td", {class: "num"}, amount(e.refunds)),
        el("td", {title: `${e.gamma_used_milli} of ${e.gamma_cap * 1000} milli-units`
                    + (e.stopped ? `; stopped: ${e.stopped}` : "") + (e.throttled ? "; throttled" : "")},
          el("span", {class: "bar"}, el("span", {class: "fill", style:
            {width: `${Math.min(100, (e.gamma_used_milli / (e.gamma_cap * 1000)) * 100)}%`}})),
          e.stopped ? el("span", {class: "badge s-expired"}, e.stopped) : null),
        el("td", {class: "num"}, amount(e.fund_balance)),
        el("td", {}, el("button", {type: "button", class: "open-epoch", data: {epoch: e.epoch},
                                   onclick: () => openEpoch(e.epoch)}, "payouts")))
      : el("tr", {class: "current", data: {epoch: e.epoch, settled: "false"}},
        el("td", {class: "num"}, e.epoch), el("td", {class: "muted"}, "in progress"),
        el("td", {class: "num"}, `${e.queued_claims} queued`), el("td", {colspan: 3, class: "muted"},
          `${amount(e.queued_amount)} to pay at its end`), el("td", {class: "num"}, amount(e.refunds)),
        el("td", {class: "muted"}, e.throttled ? "throttled" : ""), el("td", {}, dash()), el("td", {})),
    "no epoch yet", 10);
    if (state.openEpoch === null && latest) state.openEpoch = latest.epoch;
    renderEpoch();
  }

  function openEpoch(epoch) {
    state.openEpoch = epoch;
    renderEpoch();
  }

  function renderEpoch() {
    const box = $("#epoch-detail");
    const e = state.epochs.get(state.openEpoch);
    if (!e || box.dataset.epoch === String(e.epoch)) return;
    box.dataset.epoch = String(e.epoch);
    for (const b of document.querySelectorAll("#epochs tr")) b.classList.toggle("selected", b.dataset.epoch === box.dataset.epoch);
    const more = e.cursor ? el("p", {class: "muted"}, "(first page of its payouts)") : null;
    box.replaceChildren(el("h3", {}, `Epoch ${e.epoch}: heights ${e.start_height}–${e.end_height}, `
      + `${e.payouts} payout${e.payouts === 1 ? "" : "s"}`),
    e.payout_list.length ? payoutTable(e.payout_list) : el("p", {class: "muted"}, "this epoch paid no job"),
    ...(more ? [more] : []));
  }

  // --- live updates -------------------------------------------------------------------------

  let busy = false;
  let again = false;

  // Reload what depends on the head; runs one at a time, and once more if asked meanwhile.
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        try {
          const head = await rpc("chain.getHead");
          setHead(head);
          const heights = [];
          for (let h = head.height; h > head.height - RECENT_BLOCKS && h >= 1; h--) heights.push(h);
          await Promise.all([loadBlocks(heights), loadValidators(), loadEpochs().then(() => Promise.all([loadJobs(),
            loadJob()])), loadProviders()]);
          showError(null);
        } catch (e) {
          showError(e);
        }
      } while (again);
    } finally {
      busy = false;
    }
  }

  function logEvent(topic, params) {
    const ev = params.event;
    const attrs = ev.attrs || {};
    const what = topic === "newHeads" ? `block ${ev.height} ${short(ev.hash, 12)}`
      : Object.entries(attrs).map(([k, v]) => `${k}=${typeof v === "string" && v.length > 24 ? short(v, 12) : v}`)
        .join(" ");
    const li = el("li", {data: {topic, height: params.cursor.height}},
      el("span", {class: "at"}, `${params.cursor.height}:${params.cursor.index}`),
      el("span", {class: `topic t-${topic}`}, topic), " ", what);
    const list = $("#events");
    list.prepend(li);
    while (list.children.length > EVENTS_SHOWN) list.lastChild.remove();
  }

  function setWs(stateName, text) {
    const s = $("#ws-status");
    s.dataset.state = stateName;
    s.textContent = text;
  }

  let backoff = 500;

  function connect() {
    setWs("connecting", "connecting");
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    const asked = new Map();   // request id -> topic
    const subs = new Map();    // subscription id -> topic
    ws.onopen = () => {
      WS_TOPICS.forEach((topic, i) => {
        asked.set(i + 1, topic);
        ws.send(JSON.stringify({jsonrpc: "2.0", id: i + 1, method: "subscribe", params: {topic}}));
      });
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.method === "subscription") {
        const topic = subs.get(msg.params.id);
        logEvent(topic, msg.params);
        if (topic === "newHeads") setHead(msg.params.event);
        refresh();
        return;
      }
      if (asked.has(msg.id)) {
        if (msg.error) showError(new Error(`subscribe ${asked.get(msg.id)}: ${msg.error.message}`));
        else subs.set(msg.result, asked.get(msg.id));
        asked.delete(msg.id);
        if (!asked.size) {
          backoff = 500;
          setWs("live", "live");
          refresh();  // anything that happened while (re)connecting
        }
      }
    };
    ws.onclose = (e) => {
      setWs("down", `offline (${e.code}${e.reason ? `: ${e.reason}` : ""}); retrying`);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function start() {
    $("#job-close").addEventListener("click", () => {
      state.openTask = null;
      $("#sec-job").hidden = true;
    });
    $("#proof-close").addEventListener("click", () => { $("#sec-proof").hidden = true; });
    window.addEventListener("unhandledrejection", (e) => showError(e.reason));
    refresh();
    connect();
  }

  start();
})();
