"""Every scenario vector (contracts/vectors/*.json and contracts/vectors/enclave/*.json) replayed
on localnet.

1. Through the pure semantics and the store, with the vectors' own actor addresses and times:
   events, abort codes and state must be exactly the vector's; an abort changes nothing.
2. Through the real HTTP server, signed by real keys standing in for the actors, with the chain
   clock set to each step's time; state checked over Sui GraphQL after every step, then read back
   with pysui's unmodified commands and with k3s_daas.chain, which must agree with the store.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
import vector_replay as vr
from localnet_testing import ManualClock

from k3s_daas.chain import ChainClient, ChainMetrics, StakeStatus
from k3s_daas.chain.client import build_pysui_client
from k3s_daas.localnet.client import LocalnetError
from k3s_daas.localnet.enclave import SYSTEM_SENDER
from k3s_daas.localnet.state import Call, MoveAbort
from k3s_daas.localnet.store import PageRequest, Store

TOP_LEVEL_VECTORS = vr.load_vectors()
ENCLAVE_VECTORS = vr.load_vectors(vr.ENCLAVE_VECTOR_DIR)
VECTORS = TOP_LEVEL_VECTORS + ENCLAVE_VECTORS
IDS = [v["name"] for v in VECTORS]


def test_every_vector_file_is_replayed() -> None:
    assert len(TOP_LEVEL_VECTORS) >= 13
    calls = {step["call"] for vector in TOP_LEVEL_VECTORS for step in vector["steps"]}
    # The ten staking and gateway entry functions all appear (and the enclave setup of responses).
    assert {c for c in calls if not c.startswith("enclave::")} == {
        f"staking::{f}" for f in ("stake", "request_unstake", "withdraw", "slash", "set_cooldown")
    } | {
        f"k8s_gateway::{f}"
        for f in (
            "issue_seal_token",
            "revoke_seal_token",
            "admin_revoke_seal_token",
            "submit_request",
            "store_k8s_response",
        )
    }, calls
    assert len(ENCLAVE_VECTORS) >= 2
    enclave_calls = {step["call"] for vector in ENCLAVE_VECTORS for step in vector["steps"]}
    assert enclave_calls == {"enclave::update_pcrs", "enclave::register_enclave", "enclave::record_message"}
    # Every vector file, in every directory, is one of the replayed ones; names are unique.
    files = {path.stem for path in vr.VECTOR_DIR.rglob("*.json")}
    assert files == set(IDS) and len(IDS) == len(set(IDS))


def _admin_cap(store: Store, admin: str) -> str:
    with store.read() as view:
        rows = view.objects(PageRequest(1), owner=admin, type_pattern=f"{view.package.package_id}::staking::AdminCap")
        return str(rows.rows[0]["object_id"])


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_on_semantics_and_store(vector: dict[str, Any], tmp_path: Any) -> None:
    names = vr.Names.of(vector)
    db = tmp_path / "chain.sqlite3"
    store = Store(db)
    info = store.initialise(names.actors["admin"], 0)
    package = info.deployment.package
    cap = _admin_cap(store, names.actors["admin"])
    state = vr.view_state(store.read)
    for step in vector["steps"]:
        module, function = vr.split_call(step)
        call = Call(module, function, vr.call_arguments(step, names, cap))
        system = (module, function) in vr.SYSTEM_CALLS
        sender = SYSTEM_SENDER if system else names.actors[step["sender"]]
        expect = step["expect"]
        where = f"{vector['name']} step {step['step']} ({step['call']})"
        if "abort" in expect:
            before = vr.db_fingerprint(db)
            with pytest.raises(MoveAbort) as raised:
                store.execute(call, sender, step["time_ms"])
            abort = raised.value.abort
            assert {"module": abort.module, "name": abort.name, "code": abort.code} == expect["abort"], where
            assert vr.db_fingerprint(db) == before, f"{where}: an abort changed the database"
            continue
        committed = store.execute(call, sender, step["time_ms"])
        events = [(e.type.repr(), e.contents) for e in committed.effects.events]
        vr.bind(step, events, names)
        assert [vr.event_in_vector_form(package, t, c, names) for t, c in events] == expect["events"], where
        assert vr.state_mismatches(expect.get("state", {}), state, names) == [], where


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
async def test_vector_over_http_signed_then_read_back(vector: dict[str, Any], start_localnet: Any, keys: Any) -> None:
    clock = ManualClock(0)
    net = start_localnet(admin=keys["admin"], clock=clock)
    package = net.info.deployment.package
    names = vr.Names.of(vector, {name: keys[name].address for name in vector["actors"]})
    writer = net.writer()
    cap = writer.admin_cap(keys["admin"].address)
    deployment = net.info.deployment
    state = vr.graphql_state(writer.graphql, deployment.pool_id, deployment.gateway_id, deployment.enclave_config_id)
    emitted: list[dict[str, Any]] = []
    for step in vector["steps"]:
        module, function = vr.split_call(step)
        clock.now_ms = step["time_ms"]
        arguments = vr.call_arguments(step, names, cap)
        expect = step["expect"]
        where = f"{vector['name']} step {step['step']} ({step['call']})"
        if "abort" in expect:
            before = vr.db_fingerprint(net.store.path)
            with pytest.raises(LocalnetError) as raised:
                await asyncio.to_thread(writer.call, keys[step["sender"]], module, function, arguments)
            details = raised.value.details
            assert raised.value.status == 422, where
            got = {"module": details["module"], "name": details["abortName"], "code": details["abortCode"]}
            assert got == expect["abort"], where
            assert vr.db_fingerprint(net.store.path) == before, f"{where}: an abort changed the database"
            continue
        if (module, function) in vr.SYSTEM_CALLS:
            # No signer exists for a system call: it runs on the store, as `localnet
            # register-development-enclave` does. Signed over HTTP it is refused.
            with pytest.raises(LocalnetError) as refused:
                await asyncio.to_thread(writer.call, keys[step["sender"]], module, function, arguments)
            assert "system call" in str(refused.value), where
            committed = net.store.execute(Call(module, function, arguments), SYSTEM_SENDER, step["time_ms"])
            events = [(e.type.repr(), e.contents) for e in committed.effects.events]
        else:
            report = await asyncio.to_thread(writer.call, keys[step["sender"]], module, function, arguments)
            events = [(e["type"], e["parsedJson"]) for e in report["events"]]
            assert all(e["sender"] == keys[step["sender"]].address for e in report["events"]), where
            assert report["timestampMs"] == str(step["time_ms"]), where
        vr.bind(step, events, names)
        got_events = [vr.event_in_vector_form(package, t, c, names) for t, c in events]
        assert got_events == expect["events"], where
        emitted.extend(got_events)
        assert vr.state_mismatches(expect.get("state", {}), state, names) == [], where

    await _read_back(net, names, emitted)


async def _read_back(net: Any, names: vr.Names, emitted: list[dict[str, Any]]) -> None:
    """pysui and k3s_daas.chain, over HTTP, must agree with the store read directly."""
    package = net.info.deployment.package
    truth = vr.view_state(net.store.read)
    records = [v for k, v in names.ids.items() if k.endswith("record")]
    tokens = [v for k, v in names.ids.items() if k.endswith("token")]
    enclaves = {v for k, v in names.ids.items() if "enclave" in k}

    async with await ChainClient.connect(net.chain_settings(), ChainMetrics()) as chain:
        live = await chain.get_stake_records(records)
        for record in records:
            entry = await chain.stake_entry(record)
            expected = truth.stake(record)
            assert expected is not None
            assert entry is not None and (entry.amount_mist, int(entry.status)) == expected
            if record in live:
                assert live[record].entry == entry
            else:  # withdrawn records are deleted on chain
                assert entry.status is StakeStatus.WITHDRAWN
        found_tokens = await chain.get_seal_tokens(tokens)
        for token in tokens:
            expected_token = truth.token(token)
            assert found_tokens[token].entry is not None
            assert (found_tokens[token].entry.revoked, found_tokens[token].entry.expires_at_ms) == expected_token
        # Every event, in order, through the persisted-cursor API, in small pages.
        read: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await chain.events(cursor, limit=3)
            read.extend(vr.event_in_vector_form(package, e.type, e.fields, names) for e in page.events)
            cursor = page.cursor
            if not page.has_more:
                break
        assert read == emitted
        # The enclave module's shared objects, through the typed reads.
        config = await chain.enclave_config()
        assert config.object_id == net.info.deployment.enclave_config_id
        as_vector = {"version": config.version, **{f"pcr{i}": pcr.hex() for i, pcr in config.pcrs.items()}}
        assert as_vector == truth.enclave_config()
        registered = {enclave.object_id: enclave for enclave in await chain.enclaves()}
        assert set(registered) == enclaves
        for enclave_id, enclave in registered.items():
            expected_enclave = truth.enclave(enclave_id)
            assert expected_enclave is not None
            assert enclave.public_key.hex() == expected_enclave["public_key"]
            assert (enclave.config_version, enclave.attested_at_ms) == (
                expected_enclave["config_version"],
                expected_enclave["attested_at_ms"],
            )
            assert enclave.current(config) == (enclave.config_version == config.version)

    from pysui.sui.sui_common import sui_commands as cmd

    client = await asyncio.to_thread(build_pysui_client, net.graphql_url, 5.0)
    try:
        for record, stake in live.items():
            result = await client.execute(command=cmd.GetObject(object_id=record))
            assert result.is_ok(), result.result_string
            obj = result.result_data.to_dict()
            assert obj["objectType"] == f"{package.package_id}::staking::StakeRecord"
            assert obj["owner"]["address"] == stake.owner
            assert obj["json"]["amount"] == str(stake.staked_amount_mist)
        for enclave_id in enclaves:
            result = await client.execute(command=cmd.GetObject(object_id=enclave_id))
            assert result.is_ok(), result.result_string
            obj = result.result_data.to_dict()
            assert obj["objectType"] == f"{package.package_id}::enclave::Enclave"
            assert base64.b64decode(obj["json"]["public_key"]).hex() == truth.enclave(enclave_id)["public_key"]
        config_object = await client.execute(command=cmd.GetObject(object_id=net.info.deployment.enclave_config_id))
        assert config_object.is_ok(), config_object.result_string
        assert int(config_object.result_data.to_dict()["json"]["version"]) == truth.enclave_config()["version"]
        pool = await client.execute(command=cmd.GetObject(object_id=net.info.deployment.pool_id))
        assert pool.is_ok(), pool.result_string
        assert int(pool.result_data.to_dict()["json"]["balance"]) == truth.pool_balance()
        table = pool.result_data.to_dict()["json"]["entries"]["id"]
        fields = await client.execute(command=cmd.GetDynamicFields(object_id=table))
        assert fields.is_ok(), fields.result_string
        assert len(fields.result_data.dynamic_fields) == len(records)
        if live:
            owner = next(iter(live.values())).owner
            owned = await client.execute(command=cmd.GetObjectsOwnedByAddress(owner=owner))
            assert owned.is_ok(), owned.result_string
            assert {o.object_id for o in owned.result_data.objects} >= {r for r, s in live.items() if s.owner == owner}
    finally:
        await client.close()
