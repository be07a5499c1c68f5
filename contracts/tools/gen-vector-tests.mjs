#!/usr/bin/env node
// Validates the scenario vectors in contracts/vectors/*.json and contracts/vectors/<dir>/*.json
// (format: contracts/vectors/README.md) and transcribes each one into a Move test module,
// contracts/tests/vector_<name>_tests.move.
//
// Usage:
//   node gen-vector-tests.mjs           # validate, then (re)write the generated Move tests
//   node gen-vector-tests.mjs --check   # validate, and fail if a generated test is missing,
//                                       # stale, or has no vector any more (for CI)
//
// Transcription rule (also in contracts/vectors/README.md): Move cannot continue a test after
// an abort, so a vector becomes
//   * `replay`: every non-aborting step, in order, with its events and state checks;
//   * `step_NN_aborts` for each aborting step NN: the non-aborting steps before NN (with their
//     checks), then step NN under #[expected_failure(abort_code = k3s_daas::<module>::<name>)].
// An aborting transaction changes nothing, so skipping earlier aborting steps is exact.

import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const contractsDir = path.resolve(here, "..");
const vectorsDir = path.join(contractsDir, "vectors");
const testsDir = path.join(contractsDir, "tests");
const FORMAT = "k3s-daas/chain-vector@1";
const HARNESS_ADMIN = "0x" + "ad".padStart(64, "0");

// ---------------------------------------------------------------------------------------------
// The model (docs/chain-model.md). Argument order is the entry function's, minus the implicit
// pool / gateway / cap / clock / ctx parameters.

const FUNCTIONS = {
  "staking::stake": {
    args: [["coin", "u64"], ["role", "u8"], ["node_name", "string"]],
    creates: "record",
  },
  "staking::request_unstake": { args: [["record", "record"]] },
  "staking::withdraw": { args: [["record", "record"]], consumes: "record" },
  "staking::slash": {
    args: [["record_id", "stake_id"], ["amount", "u64"], ["reason", "string"]],
    cap: true,
  },
  "staking::set_cooldown": { args: [["cooldown_ms", "u64"]], cap: true },
  "k8s_gateway::issue_seal_token": {
    args: [["record", "record"], ["permissions", "strings"], ["expires_in_ms", "u64"]],
    creates: "token",
  },
  "k8s_gateway::revoke_seal_token": { args: [["token_id", "token_id"]] },
  "k8s_gateway::admin_revoke_seal_token": { args: [["token_id", "token_id"]], cap: true },
  "k8s_gateway::submit_request": {
    args: [["method", "string"], ["path", "string"], ["payload", "string"]],
  },
  "k8s_gateway::store_k8s_response": {
    args: [["request_id", "u64"], ["status_code", "u16"], ["body_digest", "bytes"], ["body", "string"],
      ["enclave", "enclave"], ["signed_at_ms", "u64"], ["signature", "bytes"]],
  },
  "enclave::update_pcrs": { args: [["pcr0", "bytes"], ["pcr1", "bytes"], ["pcr2", "bytes"]], cap: true },
  "enclave::register_enclave": { args: [["document", "document"]], creates: "enclave" },
  // Test-only (Move: enclave::register_for_testing with the configuration's PCRs; localnet: a
  // store-level registration): an enclave whose key the vector signs with.
  "enclave::register_for_testing": { args: [["public_key", "bytes"], ["attested_at_ms", "u64"]], creates: "enclave" },
  "enclave::record_message": {
    args: [["enclave", "enclave"], ["intent", "u8"], ["timestamp_ms", "u64"], ["payload", "bytes"],
      ["signature", "bytes"]],
  },
};

const EVENTS = {
  "staking::Staked": {
    ctor: "staking::staked_event",
    fields: [["record_id", "stake_id"], ["owner", "address"], ["role", "u8"], ["amount", "u64"],
      ["node_name", "string"], ["staked_at_ms", "u64"]],
  },
  "staking::UnstakeRequested": {
    ctor: "staking::unstake_requested_event",
    fields: [["record_id", "stake_id"], ["owner", "address"], ["amount", "u64"], ["available_at_ms", "u64"]],
  },
  "staking::Withdrawn": {
    ctor: "staking::withdrawn_event",
    fields: [["record_id", "stake_id"], ["owner", "address"], ["amount", "u64"]],
  },
  "staking::Slashed": {
    ctor: "staking::slashed_event",
    fields: [["record_id", "stake_id"], ["owner", "address"], ["amount", "u64"], ["remaining", "u64"],
      ["reason", "string"], ["role", "u8"], ["node_name", "string"]],
  },
  "k8s_gateway::SealTokenIssued": {
    ctor: "k8s_gateway::seal_token_issued_event",
    fields: [["token_id", "token_id"], ["owner", "address"], ["stake_record", "stake_id"],
      ["permissions", "strings"], ["expires_at_ms", "u64"]],
  },
  "k8s_gateway::SealTokenRevoked": {
    ctor: "k8s_gateway::seal_token_revoked_event",
    fields: [["token_id", "token_id"], ["owner", "address"], ["revoked_by", "address"]],
  },
  "k8s_gateway::K8sAPIRequest": {
    ctor: "k8s_gateway::k8s_api_request_event",
    fields: [["request_id", "u64"], ["sender", "address"], ["method", "string"], ["path", "string"],
      ["payload", "string"]],
  },
  "k8s_gateway::K8sResponseStored": {
    ctor: "k8s_gateway::k8s_response_stored_event",
    fields: [["request_id", "u64"], ["status_code", "u16"], ["body_digest", "bytes"], ["enclave_id", "enclave"],
      ["signed_at_ms", "u64"], ["signature", "bytes"]],
  },
  "enclave::PcrsUpdated": {
    ctor: "enclave::pcrs_updated_event",
    fields: [["version", "u64"], ["pcr0", "bytes"], ["pcr1", "bytes"], ["pcr2", "bytes"]],
  },
  "enclave::EnclaveRegistered": {
    ctor: "enclave::enclave_registered_event",
    fields: [["enclave_id", "enclave"], ["owner", "address"], ["public_key", "bytes"], ["config_version", "u64"],
      ["attested_at_ms", "u64"]],
  },
  "enclave::MessageRecorded": {
    ctor: "enclave::message_recorded_event",
    fields: [["enclave_id", "enclave"], ["sender", "address"], ["intent", "u8"], ["timestamp_ms", "u64"],
      ["payload", "bytes"]],
  },
};

const ABORTS = {
  staking: {
    EBelowMinimum: 0, EInvalidRole: 1, ENodeNameRequired: 2, ENodeNameNotAllowed: 3, ENotActive: 4,
    ENotUnstaking: 5, ECooldownNotElapsed: 6, EUnknownStake: 7, EInvalidSlashAmount: 8,
  },
  k8s_gateway: {
    EInsufficientStake: 100, EWrongRole: 101, EInvalidExpiry: 102, ENotAuthorized: 103,
    EAlreadyRevoked: 104, EUnknownToken: 105, EInvalidPermission: 106, EInvalidRequest: 107,
    EUnknownRequest: 108, EResponseExists: 109, EInvalidBodyDigest: 110, EEnclaveNotCurrent: 111,
    EInvalidResponseSignature: 112,
  },
  enclave: {
    ENotConfigured: 200, EInvalidPcr: 201, ENoPublicKey: 202, EInvalidPublicKey: 203, EPcrMismatch: 204,
    EStaleAttestation: 205, EOutdatedEnclave: 206, EInvalidSignature: 207,
  },
  // The Sui framework's 0x2::nitro_attestation (load_nitro_attestation, in register_enclave's
  // transaction).
  nitro_attestation: { EParseError: 1, EVerifyError: 2 },
};

// The address of each module an abort may come from.
const MODULE_ADDRESS = { staking: "k3s_daas", k8s_gateway: "k3s_daas", enclave: "k3s_daas", nitro_attestation: "sui" };

const STATE_KEYS = ["stakes", "pool_balance", "cooldown_ms", "tokens", "next_request_id", "responses",
  "enclave_config", "enclaves"];
const MAX = { u8: 255n, u16: 65535n, u32: 4294967295n, u64: 18446744073709551615n };
const IDENT = /^[a-z][a-z0-9_]*$/;
const RESERVED = new Set([
  "h", "abort", "acquires", "as", "break", "const", "continue", "copy", "else", "false", "fun",
  "friend", "if", "let", "loop", "module", "move", "mut", "native", "public", "return", "spec",
  "struct", "true", "use", "while", "enum", "match", "type", "for", "macro",
]);

// ---------------------------------------------------------------------------------------------
// Validation

class VectorError extends Error {}

function fail(where, msg) {
  throw new VectorError(`${where}: ${msg}`);
}

function normAddress(where, s) {
  if (typeof s !== "string" || !/^0x[0-9a-fA-F]{1,64}$/.test(s)) fail(where, `not an address: ${JSON.stringify(s)}`);
  return "0x" + s.slice(2).toLowerCase().padStart(64, "0");
}

function checkKeys(where, obj, allowed, required = allowed) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) fail(where, "expected an object");
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(where, `unknown key ${JSON.stringify(k)}`);
  for (const k of required) if (!(k in obj)) fail(where, `missing key ${JSON.stringify(k)}`);
}

function checkInt(where, v, type) {
  if (!Number.isSafeInteger(v) || v < 0 || BigInt(v) > MAX[type]) fail(where, `not a ${type}: ${JSON.stringify(v)}`);
}

// Checks one value of `type`; `names` resolves symbolic references.
function checkValue(where, v, type, ctx) {
  switch (type) {
    case "u8": case "u16": case "u64": return checkInt(where, v, type);
    case "string":
      if (typeof v !== "string") fail(where, "expected a string");
      return;
    case "strings":
      if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) fail(where, "expected a list of strings");
      return;
    case "bytes":
      if (typeof v !== "string" || !/^([0-9a-f]{2})*$/.test(v)) fail(where, "expected lowercase hex bytes without 0x");
      return;
    case "address":
      if (!(v in ctx.actors)) fail(where, `unknown actor ${JSON.stringify(v)}`);
      return;
    case "record": {
      const b = ctx.bindings.get(v);
      if (!b || b.kind !== "record") fail(where, `${JSON.stringify(v)} is not a bound StakeRecord`);
      if (b.consumed) fail(where, `record ${v} was consumed by withdraw`);
      if (b.owner !== ctx.sender) fail(where, `record ${v} is owned by ${b.owner}, not the sender ${ctx.sender}`);
      return;
    }
    case "document":
      if (!(v in ctx.documents)) fail(where, `${JSON.stringify(v)} is not one of the vector's documents`);
      return;
    case "enclave": {
      const b = ctx.bindings.get(v);
      if (!b || b.kind !== "enclave") fail(where, `${JSON.stringify(v)} is not a bound Enclave`);
      return;
    }
    case "stake_id": case "token_id": {
      if (v in ctx.unknown) return;
      const b = ctx.bindings.get(v);
      const kind = type === "stake_id" ? "record" : "token";
      if (!b || b.kind !== kind) fail(where, `${JSON.stringify(v)} is neither a bound ${kind} nor an unknown id`);
      return;
    }
    default: throw new Error(type);
  }
}

function validate(file, v) {
  const stem = path.basename(file, ".json");
  checkKeys(file, v, ["format", "name", "description", "actors", "unknown_ids", "documents", "steps"],
    ["format", "name", "description", "actors", "steps"]);
  if (v.format !== FORMAT) fail(file, `format must be ${JSON.stringify(FORMAT)}`);
  if (v.name !== stem) fail(file, `name ${JSON.stringify(v.name)} must equal the file name ${JSON.stringify(stem)}`);
  if (!IDENT.test(v.name)) fail(file, "name must match [a-z][a-z0-9_]*");
  const actors = {};
  checkKeys(`${file}: actors`, v.actors, Object.keys(v.actors), ["admin"]);
  for (const [n, a] of Object.entries(v.actors)) {
    if (!IDENT.test(n) || RESERVED.has(n)) fail(`${file}: actors`, `bad actor name ${JSON.stringify(n)}`);
    actors[n] = normAddress(`${file}: actors.${n}`, a);
  }
  if (actors.admin !== HARNESS_ADMIN) fail(`${file}: actors.admin`, `must be ${HARNESS_ADMIN} (the publisher in tests/harness.move)`);
  if (new Set(Object.values(actors)).size !== Object.keys(actors).length) fail(`${file}: actors`, "addresses must be distinct");
  const unknown = {};
  for (const [n, a] of Object.entries(v.unknown_ids ?? {})) {
    if (!IDENT.test(n) || RESERVED.has(n)) fail(`${file}: unknown_ids`, `bad name ${JSON.stringify(n)}`);
    unknown[n] = normAddress(`${file}: unknown_ids.${n}`, a);
  }
  const documents = {};
  for (const [n, d] of Object.entries(v.documents ?? {})) {
    if (!IDENT.test(n)) fail(`${file}: documents`, `bad document name ${JSON.stringify(n)}`);
    if (typeof d !== "string" || !/^([0-9a-f]{2})+$/.test(d)) fail(`${file}: documents.${n}`, "expected lowercase hex bytes");
    documents[n] = d;
  }
  if (!Array.isArray(v.steps) || v.steps.length === 0) fail(file, "steps must be a non-empty list");

  const bindings = new Map();
  let lastTime = 0;
  v.steps.forEach((st, i) => {
    const where = `${file}: step ${i + 1}`;
    checkKeys(where, st, ["step", "note", "time_ms", "sender", "call", "args", "bind", "expect"],
      ["step", "time_ms", "sender", "call", "args", "expect"]);
    if (st.step !== i + 1) fail(where, `"step" must be ${i + 1}`);
    if ("note" in st && typeof st.note !== "string") fail(where, "note must be a string");
    checkInt(`${where}: time_ms`, st.time_ms, "u64");
    if (st.time_ms < lastTime) fail(where, "time_ms must not decrease");
    lastTime = st.time_ms;
    if (!(st.sender in actors)) fail(where, `unknown sender ${JSON.stringify(st.sender)}`);
    const fn = FUNCTIONS[st.call];
    if (!fn) fail(where, `unknown call ${JSON.stringify(st.call)}`);
    if (fn.cap && st.sender !== "admin") fail(where, `${st.call} needs the AdminCap: the sender must be "admin"`);
    const ctx = { actors, unknown, documents, bindings, sender: st.sender };
    checkKeys(`${where}: args`, st.args, fn.args.map(([n]) => n));
    for (const [n, t] of fn.args) checkValue(`${where}: args.${n}`, st.args[n], t, ctx);

    const aborts = st.expect && "abort" in st.expect;
    if (aborts) {
      checkKeys(`${where}: expect`, st.expect, ["abort"]);
      const a = st.expect.abort;
      checkKeys(`${where}: expect.abort`, a, ["module", "name", "code"]);
      const code = Object.hasOwn(ABORTS, a.module) ? ABORTS[a.module][a.name] : undefined;
      if (code === undefined) fail(where, `unknown abort ${a.module}::${a.name}`);
      if (a.code !== code) fail(where, `${a.module}::${a.name} is ${code}, not ${a.code}`);
      if ("bind" in st) fail(where, "an aborting step binds nothing");
      return;
    }
    checkKeys(`${where}: expect`, st.expect, ["events", "state"]);
    if ("bind" in st) {
      if (!fn.creates) fail(where, `${st.call} creates no object to bind`);
      if (!IDENT.test(st.bind) || RESERVED.has(st.bind)) fail(where, `bad binding name ${JSON.stringify(st.bind)}`);
      if (bindings.has(st.bind) || st.bind in unknown || st.bind in actors) fail(where, `${st.bind} is already a name`);
      bindings.set(st.bind, { kind: fn.creates, owner: st.sender, consumed: false });
    } else if (fn.creates) {
      fail(where, `${st.call} creates an object: name it with "bind"`);
    }
    if (!Array.isArray(st.expect.events)) fail(`${where}: expect.events`, "expected a list");
    st.expect.events.forEach((e, j) => {
      const w = `${where}: expect.events[${j}]`;
      checkKeys(w, e, ["type", "fields"]);
      const spec = EVENTS[e.type];
      if (!spec) fail(w, `unknown event type ${JSON.stringify(e.type)}`);
      checkKeys(`${w}.fields`, e.fields, spec.fields.map(([n]) => n));
      for (const [n, t] of spec.fields) checkValue(`${w}.fields.${n}`, e.fields[n], t, ctx);
    });
    const s = st.expect.state;
    checkKeys(`${where}: expect.state`, s, STATE_KEYS, []);
    for (const [name, want] of Object.entries(s.stakes ?? {})) {
      checkValue(`${where}: state.stakes`, name, "stake_id", ctx);
      if (name in unknown) fail(where, "state.stakes lists bound records only");
      checkKeys(`${where}: state.stakes.${name}`, want, ["amount", "status"]);
      checkInt(`${where}: state.stakes.${name}.amount`, want.amount, "u64");
      if (![0, 1, 2].includes(want.status)) fail(where, `state.stakes.${name}.status must be 0, 1 or 2`);
    }
    for (const k of ["pool_balance", "cooldown_ms", "next_request_id"]) if (k in s) checkInt(`${where}: state.${k}`, s[k], "u64");
    for (const [name, want] of Object.entries(s.tokens ?? {})) {
      checkValue(`${where}: state.tokens`, name, "token_id", ctx);
      if (name in unknown) fail(where, "state.tokens lists bound tokens only");
      checkKeys(`${where}: state.tokens.${name}`, want, ["revoked", "expires_at_ms"]);
      if (typeof want.revoked !== "boolean") fail(where, `state.tokens.${name}.revoked must be a boolean`);
      checkInt(`${where}: state.tokens.${name}.expires_at_ms`, want.expires_at_ms, "u64");
    }
    for (const [id, want] of Object.entries(s.responses ?? {})) {
      if (!/^(0|[1-9][0-9]*)$/.test(id)) fail(where, `state.responses key ${JSON.stringify(id)} is not a request id`);
      if (want === null) continue;
      checkKeys(`${where}: state.responses.${id}`, want, ["status_code", "body_digest", "body"]);
      checkValue(`${where}: state.responses.${id}.status_code`, want.status_code, "u16", ctx);
      checkValue(`${where}: state.responses.${id}.body_digest`, want.body_digest, "bytes", ctx);
      checkValue(`${where}: state.responses.${id}.body`, want.body, "string", ctx);
    }
    if ("enclave_config" in s) {
      checkKeys(`${where}: state.enclave_config`, s.enclave_config, ["version", "pcr0", "pcr1", "pcr2"]);
      checkInt(`${where}: state.enclave_config.version`, s.enclave_config.version, "u64");
      for (const k of ["pcr0", "pcr1", "pcr2"]) checkValue(`${where}: state.enclave_config.${k}`, s.enclave_config[k], "bytes", ctx);
    }
    for (const [name, want] of Object.entries(s.enclaves ?? {})) {
      checkValue(`${where}: state.enclaves`, name, "enclave", ctx);
      checkKeys(`${where}: state.enclaves.${name}`, want, ["public_key", "config_version", "attested_at_ms"]);
      checkValue(`${where}: state.enclaves.${name}.public_key`, want.public_key, "bytes", ctx);
      checkInt(`${where}: state.enclaves.${name}.config_version`, want.config_version, "u64");
      checkInt(`${where}: state.enclaves.${name}.attested_at_ms`, want.attested_at_ms, "u64");
    }
    if (fn.consumes) bindings.get(st.args.record).consumed = true;
  });
  return { actors, unknown, documents };
}

// ---------------------------------------------------------------------------------------------
// Move emission

function moveBytes(s) {
  let out = 'b"';
  for (const b of Buffer.from(s, "utf8")) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += "\\\\";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out + '"';
}

const actorConst = (name) => name.toUpperCase();
const documentConst = (name) => `DOCUMENT_${name.toUpperCase()}`;

function moveValue(v, type, asString) {
  switch (type) {
    case "u8": case "u16": case "u64": return String(v);
    case "string": return asString ? `${moveBytes(v)}.to_string()` : moveBytes(v);
    case "strings":
      return v.length === 0 ? "vector[]" : `vector[${v.map((s) => `${moveBytes(s)}.to_string()`).join(", ")}]`;
    case "bytes": return v === "" ? "vector[]" : `x"${v}"`;
    case "address": return actorConst(v);
    case "document": return documentConst(v);
    case "record": case "stake_id": case "token_id": case "enclave": return v;
    default: throw new Error(type);
  }
}

const HARNESS_FN = (call) => call.split("::")[1];

function describeAbort(a) {
  return `${a.module}::${a.name} (${a.code})`;
}

function emitCall(st, lines, pad) {
  const fn = FUNCTIONS[st.call];
  const args = [actorConst(st.sender), String(st.time_ms), ...fn.args.map(([n, t]) => moveValue(st.args[n], t, false))];
  const call = `h.${HARNESS_FN(st.call)}(${args.join(", ")})`;
  lines.push(st.bind ? `${pad}let ${st.bind} = ${call};` : `${pad}${call};`);
}

// Move sources must stay ASCII: comments show other characters as U+XXXX.
function asciiComment(text) {
  return text.replace(/\s+/g, " ").replace(/[^\x20-\x7e]/gu, (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
}

function stepHeader(st) {
  const note = st.note ? ` ${asciiComment(st.note)}.` : "";
  return `// Step ${st.step} (t=${st.time_ms} ms): ${st.sender} calls ${st.call}.${note}`;
}

function emitSuccessStep(st, lines) {
  const pad = "    ";
  lines.push(`${pad}${stepHeader(st)}`);
  emitCall(st, lines, pad);
  const events = st.expect.events;
  lines.push(`${pad}harness::expect_event_count(${events.length});`);
  const byType = new Map();
  for (const e of events) {
    if (!byType.has(e.type)) byType.set(e.type, []);
    byType.get(e.type).push(e);
  }
  for (const [type, list] of byType) {
    const spec = EVENTS[type];
    lines.push(`${pad}assert!(`);
    lines.push(`${pad}    event::events_by_type<${type}>() == vector[`);
    for (const e of list) {
      const args = spec.fields.map(([n, t]) => moveValue(e.fields[n], t, true));
      lines.push(`${pad}        ${spec.ctor}(${args.join(", ")}),`);
    }
    lines.push(`${pad}    ],`);
    lines.push(`${pad}    ${st.step}`);
    lines.push(`${pad});`);
  }
  const s = st.expect.state;
  for (const [name, want] of Object.entries(s.stakes ?? {})) {
    lines.push(`${pad}h.expect_stake(${name}, ${want.amount}, ${want.status});`);
  }
  if ("pool_balance" in s) lines.push(`${pad}h.expect_pool_balance(${s.pool_balance});`);
  if ("cooldown_ms" in s) lines.push(`${pad}h.expect_cooldown(${s.cooldown_ms});`);
  for (const [name, want] of Object.entries(s.tokens ?? {})) {
    lines.push(`${pad}h.expect_token(${name}, ${want.revoked}, ${want.expires_at_ms});`);
  }
  if ("next_request_id" in s) lines.push(`${pad}h.expect_next_request_id(${s.next_request_id});`);
  for (const [id, want] of Object.entries(s.responses ?? {})) {
    if (want === null) lines.push(`${pad}h.expect_no_response(${id});`);
    else {
      lines.push(`${pad}h.expect_response(${id}, ${want.status_code}, ${moveValue(want.body_digest, "bytes")}, ${moveBytes(want.body)});`);
    }
  }
  if ("enclave_config" in s) {
    const c = s.enclave_config;
    const pcrs = [c.pcr0, c.pcr1, c.pcr2].map((p) => moveValue(p, "bytes")).join(", ");
    lines.push(`${pad}h.expect_enclave_config(${c.version}, ${pcrs});`);
  }
  for (const [name, want] of Object.entries(s.enclaves ?? {})) {
    lines.push(`${pad}h.expect_enclave(${name}, ${moveValue(want.public_key, "bytes")}, ${want.config_version}, ${want.attested_at_ms});`);
  }
}

// Drops `let NAME = ` when NAME is not used afterwards (keeps the build free of warnings).
function dropUnusedLets(lines) {
  return lines.map((line, i) => {
    const m = /^(\s*)let ([a-z][a-z0-9_]*) = (.*)$/.exec(line);
    if (!m) return line;
    const re = new RegExp(`\\b${m[2]}\\b`);
    const used = lines.slice(i + 1).some((l) => !l.trimStart().startsWith("//") && re.test(l));
    if (used) return line;
    return m[3].startsWith("harness::unknown_id(") ? null : `${m[1]}${m[3]}`;
  }).filter((line) => line !== null);
}

function emitTest(v, info, upto, abortStep) {
  const lines = [];
  const pad = "    ";
  lines.push(`${pad}let mut h = harness::begin();`);
  for (const [name, addr] of Object.entries(info.unknown)) {
    lines.push(`${pad}let ${name} = harness::unknown_id(@${addr});`);
  }
  for (const st of v.steps.slice(0, upto)) {
    if ("abort" in st.expect) {
      lines.push(`${pad}// Step ${st.step} aborts with ${describeAbort(st.expect.abort)}: test step_${pad2(st.step)}_aborts.`);
    } else {
      emitSuccessStep(st, lines);
    }
  }
  if (abortStep) {
    lines.push(`${pad}${stepHeader(abortStep)}`);
    lines.push(`${pad}// Expected: abort ${describeAbort(abortStep.expect.abort)}.`);
    emitCall({ ...abortStep, bind: undefined }, lines, pad);
  }
  lines.push(`${pad}h.end();`);
  return dropUnusedLets(lines);
}

const pad2 = (n) => String(n).padStart(2, "0");

function generate(rel, v, info) {
  const out = [];
  out.push("// Copyright (c) K3s-DaaS contributors");
  out.push("// SPDX-License-Identifier: Apache-2.0");
  out.push("");
  out.push(`// Transcription of the scenario vector ${rel}.`);
  out.push("// Generated by contracts/tools/gen-vector-tests.mjs: edit the vector, then regenerate.");
  out.push("");
  const docLines = wrap(asciiComment(v.description), 96);
  for (const l of docLines) out.push(`/// ${l}`);
  out.push("#[test_only]");
  out.push(`module k3s_daas::vector_${v.name}_tests;`);
  out.push("");
  const bodies = [];
  bodies.push({
    attr: "#[test]",
    doc: "Every step that does not abort, in order, with its events and state.",
    name: "replay",
    lines: emitTest(v, info, v.steps.length, null),
  });
  for (const st of v.steps) {
    if (!("abort" in st.expect)) continue;
    const a = st.expect.abort;
    bodies.push({
      attr: `#[test, expected_failure(abort_code = ${MODULE_ADDRESS[a.module]}::${a.module}::${a.name})]`,
      doc: `Step ${st.step} aborts with ${describeAbort(a)}.`,
      name: `step_${pad2(st.step)}_aborts`,
      lines: emitTest(v, info, st.step - 1, st),
    });
  }
  const allText = bodies.flatMap((b) => b.lines).join("\n");
  const uses = [];
  if (/\benclave::/.test(allText)) uses.push("use k3s_daas::enclave;");
  uses.push("use k3s_daas::harness;");
  if (/\bk8s_gateway::/.test(allText)) uses.push("use k3s_daas::k8s_gateway;");
  if (/\bstaking::/.test(allText)) uses.push("use k3s_daas::staking;");
  if (/\bevent::/.test(allText)) uses.push("use sui::event;");
  out.push(...uses);
  out.push("");
  const consts = Object.entries(info.actors).filter(([n]) => new RegExp(`\\b${actorConst(n)}\\b`).test(allText));
  for (const [n, a] of consts) out.push(`const ${actorConst(n)}: address = @${a};`);
  const docs = Object.entries(info.documents).filter(([n]) => new RegExp(`\\b${documentConst(n)}\\b`).test(allText));
  for (const [n, d] of docs) out.push(`const ${documentConst(n)}: vector<u8> = x"${d}";`);
  if (consts.length || docs.length) out.push("");
  bodies.forEach((b, i) => {
    out.push(b.attr);
    out.push(`/// ${b.doc}`);
    out.push(`fun ${b.name}() {`);
    out.push(...b.lines);
    out.push("}");
    if (i + 1 < bodies.length) out.push("");
  });
  return out.join("\n") + "\n";
}

function wrap(text, width) {
  const words = text.split(/\s+/).filter(Boolean);
  const lines = [];
  let cur = "";
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

// ---------------------------------------------------------------------------------------------

function main() {
  const check = process.argv.includes("--check");
  for (const a of process.argv.slice(2)) if (a !== "--check") {
    console.error(`usage: gen-vector-tests.mjs [--check]`);
    process.exit(2);
  }
  // Top-level vectors and those of one level of subdirectories (e.g. vectors/enclave/), each as
  // a path relative to vectors/.
  const files = [];
  for (const entry of readdirSync(vectorsDir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".json")) files.push(entry.name);
    else if (entry.isDirectory()) {
      for (const f of readdirSync(path.join(vectorsDir, entry.name))) {
        if (f.endsWith(".json")) files.push(path.posix.join(entry.name, f));
      }
    }
  }
  files.sort();
  if (files.length === 0) {
    console.error("gen-vector-tests: no vectors in contracts/vectors/");
    process.exit(2);
  }
  const problems = [];
  let tests = 0;
  for (const f of files) {
    const rel = path.posix.join("contracts", "vectors", f);
    let v;
    try {
      v = JSON.parse(readFileSync(path.join(vectorsDir, f), "utf8"));
    } catch (e) {
      problems.push(`${rel}: invalid JSON: ${e.message}`);
      continue;
    }
    let info;
    try {
      info = validate(rel, v);
    } catch (e) {
      if (e instanceof VectorError) {
        problems.push(e.message);
        continue;
      }
      throw e;
    }
    const outName = `vector_${v.name}_tests.move`;
    const text = generate(rel, v, info);
    tests += 1 + v.steps.filter((s) => "abort" in s.expect).length;
    const outPath = path.join(testsDir, outName);
    const current = existsSync(outPath) ? readFileSync(outPath, "utf8") : null;
    if (current === text) continue;
    if (check) problems.push(`contracts/tests/${outName}: ${current === null ? "missing" : "stale"} (run node contracts/tools/gen-vector-tests.mjs)`);
    else writeFileSync(outPath, text);
  }
  const stems = new Set(files.map((f) => path.posix.basename(f, ".json")));
  for (const f of readdirSync(testsDir)) {
    if (/^vector_.*_tests\.move$/.test(f) && !stems.has(f.slice(7, -11))) {
      problems.push(`contracts/tests/${f}: no vector contracts/vectors/${f.slice(7, -11)}.json (delete it)`);
    }
  }
  for (const p of problems) console.log(p);
  if (problems.length) {
    console.log(`${files.length} vectors, ${problems.length} problems`);
    process.exit(1);
  }
  console.log(`${files.length} vectors valid, ${tests} Move tests ${check ? "up to date" : "generated"}`);
}

main();
