"""Localnet's Sui GraphQL surface over real HTTP: shapes, errors, headers, history, pysui."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from localnet_testing import Localnet

from k3s_daas.chain.client import build_pysui_client
from k3s_daas.localnet.schema import RPC_VERSION


def post(url: str, body: bytes | dict[str, Any], path: str = "/graphql") -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def gql(net: Localnet, query: str, **variables: Any) -> dict[str, Any]:
    status, _headers, answer = post(net.url, {"query": query, "variables": variables})
    assert status == 200, answer
    return answer


def stake(net: Localnet, key: Any, amount: int = 600_000_000) -> dict[str, Any]:
    return net.writer().call(key, "staking", "stake", {"amount": amount, "role": 0, "node_name": ""})


def created(report: dict[str, Any], suffix: str) -> str:
    return next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith(suffix))


def test_every_response_carries_the_rpc_version_header(localnet: Localnet) -> None:
    for path in ("/graphql?query=%7BchainIdentifier%7D", "/healthz", "/localnet/v1/info", "/nowhere"):
        try:
            with urllib.request.urlopen(localnet.url + path, timeout=10) as response:
                headers = response.headers
        except urllib.error.HTTPError as error:
            headers = error.headers
        assert headers["x-sui-rpc-version"] == RPC_VERSION, path
    status, headers, answer = post(localnet.url, {"query": "{ chainIdentifier }"})
    assert status == 200
    assert headers["x-sui-rpc-version"] == RPC_VERSION
    assert answer == {"data": {"chainIdentifier": localnet.info.chain_identifier}}


def test_malformed_graphql_gets_a_parse_error_and_no_data(localnet: Localnet) -> None:
    answer = gql(localnet, '{ object(address: "0x2" { address } }')
    assert "data" not in answer
    assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "Syntax Error" in answer["errors"][0]["message"]


def test_fields_outside_the_schema_fail_validation(localnet: Localnet) -> None:
    answer = gql(localnet, "{ chainIdentifier notAField }")
    assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "notAField" in answer["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"query": 5}).encode(),
        json.dumps({"query": "{ chainIdentifier }", "variables": [1]}).encode(),
    ],
)
def test_requests_that_are_not_graphql_get_400(localnet: Localnet, body: bytes) -> None:
    status, headers, answer = post(localnet.url, body)
    assert status == 400
    assert headers["x-sui-rpc-version"] == RPC_VERSION
    assert answer["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_unknown_objects_are_null_and_bad_addresses_are_input_errors(localnet: Localnet) -> None:
    answer = gql(
        localnet,
        "query($id: SuiAddress!) { object(address: $id) { address }"
        " multiGetObjects(keys: [{address: $id}]) { address } }",
        id="0xdead",
    )
    assert answer == {"data": {"object": None, "multiGetObjects": [None]}}
    answer = gql(localnet, "query($id: SuiAddress!) { object(address: $id) { address } }", id="0xnothex")
    assert "data" not in answer or answer["data"] is None
    assert "Invalid SuiAddress" in answer["errors"][0]["message"]
    answer = gql(localnet, '{ object(address: "0x1", version: 1, atCheckpoint: 0) { address } }')
    assert answer["data"]["object"] is None
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_paging_arguments_are_checked(localnet: Localnet) -> None:
    for query, fragment in (
        ("{ events(first: 51) { nodes { sequenceNumber } } }", "page size"),
        ("{ events(first: 1, last: 1) { nodes { sequenceNumber } } }", "'first' and 'last'"),
        ('{ events(after: "bm90IGEgY3Vyc29y") { nodes { sequenceNumber } } }', "Invalid cursor"),
        ('{ events(filter: {type: "0x2", module: "0x2::coin"}) { nodes { sequenceNumber } } }', "same time"),
        ("{ objects(filter: {}) { nodes { address } } }", "owner, a type"),
        ("{ objects(filter: {ownerKind: SHARED}) { nodes { address } } }", "needs a type"),
        ('{ objects(filter: {type: "0x2::coin::Coin<nope>"}) { nodes { address } } }', "Invalid type filter"),
    ):
        answer = gql(localnet, query)
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", query
        assert fragment in answer["errors"][0]["message"], (query, answer)


def test_query_depth_is_limited(localnet: Localnet) -> None:
    hop = "owner { ... on AddressOwner { address { asObject { "
    deep = '{ object(address: "0x1") { ' + hop * 12 + "address" + " } } } }" * 12 + " } }"
    answer = gql(localnet, deep)
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nesting" in answer["errors"][0]["message"]
    shallow = '{ object(address: "0x1") { ' + hop * 3 + "address" + " } } } }" * 3 + " } }"
    assert gql(localnet, shallow) == {"data": {"object": None}}


def test_objects_show_owners_versions_json_and_bcs(localnet: Localnet, keys: dict[str, Any]) -> None:
    report = stake(localnet, keys["alice"])
    record = created(report, "::staking::StakeRecord")
    pool_id = localnet.info.deployment.pool_id
    query = """
    query($record: SuiAddress!, $pool: SuiAddress!) {
      record: object(address: $record) {
        address version digest
        owner { __typename ... on AddressOwner { address { address } } }
        asMoveObject { hasPublicTransfer contents { json bcs type { repr signature } } }
        previousTransaction { digest }
      }
      pool: object(address: $pool) { version owner { ... on Shared { initialSharedVersion } } }
      genesisPool: object(address: $pool, version: 1) { asMoveObject { contents { json } } }
      atGenesis: object(address: $record, atCheckpoint: 0) { address }
    }"""
    data = gql(localnet, query, record=record, pool=pool_id)["data"]
    assert data["record"]["owner"] == {"__typename": "AddressOwner", "address": {"address": keys["alice"].address}}
    contents = data["record"]["asMoveObject"]["contents"]
    assert contents["json"]["owner"] == keys["alice"].address
    assert contents["json"]["amount"] == "600000000"  # u64 as a string, like Sui
    assert contents["json"]["role"] == 0  # u8 as a number
    assert contents["type"]["repr"] == f"{localnet.package_id}::staking::StakeRecord"
    assert contents["type"]["signature"]["datatype"]["module"] == "staking"
    bcs = base64.b64decode(contents["bcs"])
    assert bcs[:32].hex() == record[2:] and bcs[32:64].hex() == keys["alice"].address[2:]
    assert data["record"]["asMoveObject"]["hasPublicTransfer"] is False  # StakeRecord has key only
    assert data["record"]["previousTransaction"]["digest"] == report["digest"]
    assert data["pool"]["owner"] == {"initialSharedVersion": 1}
    assert data["pool"]["version"] == 2
    assert data["genesisPool"]["asMoveObject"]["contents"]["json"]["balance"] == "0"
    assert data["atGenesis"] is None


def test_transactions_show_effects_object_changes_and_events(localnet: Localnet, keys: dict[str, Any]) -> None:
    report = stake(localnet, keys["alice"])
    query = """
    query($digest: String!) { transaction(digest: $digest) {
      digest sender { address } signatures { signatureBytes }
      effects { status lamportVersion checkpoint { sequenceNumber }
        objectChanges { nodes { address idCreated idDeleted inputState { version } outputState { version } } }
        events { nodes { sequenceNumber contents { type { repr } json }
          transactionModule { name package { address } } } } } } }"""
    tx = gql(localnet, query, digest=report["digest"])["data"]["transaction"]
    assert tx["sender"]["address"] == keys["alice"].address
    assert len(tx["signatures"]) == 1
    effects = tx["effects"]
    assert effects["status"] == "SUCCESS"
    assert effects["checkpoint"]["sequenceNumber"] == int(report["checkpoint"])
    changes = {c["address"]: c for c in effects["objectChanges"]["nodes"]}
    assert {c["objectId"] for c in report["objectChanges"]} == set(changes)
    for change in changes.values():
        assert change["outputState"]["version"] == effects["lamportVersion"]
        assert change["idCreated"] == (change["inputState"] is None)
    (event,) = effects["events"]["nodes"]
    assert event["contents"]["type"]["repr"] == f"{localnet.package_id}::staking::Staked"
    assert event["transactionModule"] == {"name": "staking", "package": {"address": localnet.package_id}}


def test_type_filters_accept_every_sui_form(localnet: Localnet, keys: dict[str, Any]) -> None:
    stake(localnet, keys["alice"])
    pkg = localnet.package_id
    short_pkg = "0x" + pkg[2:].lstrip("0")
    for pattern, expected in (
        (short_pkg, 1),
        (f"{pkg}::staking", 1),
        (f"{pkg}::staking::StakeRecord", 1),
        (f"{pkg}::staking::AdminCap", 0),
        ("0x2::coin::Coin<0x2::sui::SUI>", 0),
    ):
        query = "query($o: SuiAddress!, $t: String!) { objects(filter: {owner: $o, type: $t}) { nodes { address } } }"
        nodes = gql(localnet, query, o=keys["alice"].address, t=pattern)["data"]["objects"]["nodes"]
        assert len(nodes) == expected, pattern
    shared = gql(localnet, f'{{ objects(filter: {{type: "{pkg}::staking::StakingPool"}}) {{ nodes {{ address }} }} }}')
    assert shared["data"]["objects"]["nodes"] == [{"address": localnet.info.deployment.pool_id}]


async def test_pysui_reads_localnet_unmodified(localnet: Localnet, keys: dict[str, Any]) -> None:
    from pysui.sui.sui_common import sui_commands as cmd

    report = await asyncio.to_thread(stake, localnet, keys["alice"])
    record = created(report, "::staking::StakeRecord")
    client = await asyncio.to_thread(build_pysui_client, localnet.graphql_url, 5.0)
    try:
        assert client.chain_id() == localnet.info.chain_identifier
        assert client.schema_version() == RPC_VERSION
        chain = await client.execute(command=cmd.GetChainIdentifier())
        assert chain.result_data == localnet.info.chain_identifier
        summary = await client.execute(command=cmd.GetObjectSummary(object_id=record))
        assert summary.is_ok() and summary.result_data.owner == keys["alice"].address
        several = await client.execute(
            command=cmd.GetMultipleObjects(object_ids=[record, localnet.info.deployment.gateway_id])
        )
        assert several.is_ok() and len(several.result_data.objects) == 2
        typed = await client.execute(
            command=cmd.GetObjectsForType(
                owner=keys["alice"].address, object_type=f"{localnet.package_id}::staking::StakeRecord"
            )
        )
        assert typed.is_ok() and [o.object_id for o in typed.result_data.objects] == [record]
        content = await client.execute(command=cmd.GetObjectContent(object_id=record))
        assert content.is_ok() and content.result_data.object.contents.value[:32].hex() == record[2:]
    finally:
        await client.close()


def test_deleted_objects_keep_their_history(localnet: Localnet, keys: dict[str, Any]) -> None:
    writer = localnet.writer()
    cap = writer.admin_cap(keys["admin"].address)
    writer.call(keys["admin"], "staking", "set_cooldown", {"cap": cap, "cooldown_ms": 0})
    report = stake(localnet, keys["alice"])
    record = created(report, "::staking::StakeRecord")
    staked_at = int(report["checkpoint"])
    writer.call(keys["alice"], "staking", "request_unstake", {"record": record})
    withdrawn = writer.call(keys["alice"], "staking", "withdraw", {"record": record})
    last_version = next(int(c["version"]) for c in withdrawn["objectChanges"] if c["objectId"] == record) - 1
    query = """
    query($id: SuiAddress!, $v: UInt53!, $cp: UInt53!, $after: UInt53!) {
      now: object(address: $id) { version }
      atVersion: object(address: $id, version: $v) { version }
      bounded: object(address: $id, rootVersion: $v) { version }
      atStake: object(address: $id, atCheckpoint: $cp) { version }
      atEnd: object(address: $id, atCheckpoint: $after) { version }
    }"""
    data = gql(localnet, query, id=record, v=last_version, cp=staked_at, after=int(withdrawn["checkpoint"]))["data"]
    assert data["now"] is None and data["atEnd"] is None
    assert data["atVersion"] == {"version": last_version}
    assert data["bounded"] == {"version": last_version}
    assert data["atStake"] is not None
