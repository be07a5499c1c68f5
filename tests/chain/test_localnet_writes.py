"""Localnet's signed write endpoint: every bad input gets a clear error and changes nothing."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest
import vector_replay as vr
from localnet_testing import Localnet

from k3s_daas.localnet.client import LocalnetClient, LocalnetError
from k3s_daas.localnet.protocol import sign_call
from k3s_daas.localnet.state import Call
from k3s_daas.sui.crypto import Keypair, SignatureScheme

USER_STAKE = {"amount": 600_000_000, "role": 0, "node_name": ""}


def refused(net: Localnet, status: int, fragment: str, send: Any) -> LocalnetError:
    """``send()`` must fail with ``status`` and a message containing ``fragment``, changing nothing."""
    before = vr.db_fingerprint(net.store.path)
    with pytest.raises(LocalnetError) as raised:
        send()
    assert raised.value.status == status, raised.value
    assert fragment in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)
    assert vr.db_fingerprint(net.store.path) == before
    return raised.value


def post_signed(net: Localnet, message: bytes, signature: str) -> dict[str, Any]:
    body = json.dumps({"message": base64.b64encode(message).decode(), "signature": signature}).encode()
    request = urllib.request.Request(net.url + "/localnet/v1/execute", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        details = json.loads(error.read())["error"]
        raise LocalnetError(details["message"], status=error.code, details=details) from None


def test_stake_below_minimum_aborts_with_the_move_code(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    error = refused(
        localnet,
        422,
        "EBelowMinimum",
        lambda: localnet.writer().call(keys["alice"], "staking", "stake", {**USER_STAKE, "amount": 499_999_999}),
    )
    assert error.details["abortCode"] == 0
    assert error.details["module"] == "staking"


def test_a_tampered_message_is_rejected(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    signed = sign_call(keys["alice"], localnet.info.chain_identifier, Call("staking", "stake", USER_STAKE), _now())
    tampered = signed.message.replace(b"600000000", b"900000000")
    refused(localnet, 401, "does not verify", lambda: post_signed(localnet, tampered, signed.signature))


def test_a_signature_by_another_key_than_the_sender_is_rejected(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    signed = sign_call(keys["alice"], localnet.info.chain_identifier, Call("staking", "stake", USER_STAKE), _now())
    forged = keys["bob"].sign_personal_message(signed.message)
    refused(localnet, 401, f"expected {keys['alice'].address}", lambda: post_signed(localnet, signed.message, forged))


@pytest.mark.parametrize(
    ("signature", "fragment"),
    [("not base64!", "base64"), (base64.b64encode(b"\x05" + bytes(97)).decode(), "zkLogin"), ("", "empty")],
)
def test_malformed_signatures_are_rejected(
    localnet: Localnet, keys: dict[str, Keypair], signature: str, fragment: str
) -> None:
    signed = sign_call(keys["alice"], localnet.info.chain_identifier, Call("staking", "stake", USER_STAKE), _now())
    refused(localnet, 401, fragment, lambda: post_signed(localnet, signed.message, signature))


def test_a_call_signed_for_another_chain_is_rejected(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    signed = sign_call(keys["alice"], "0badc0de", Call("staking", "stake", USER_STAKE), _now())
    refused(localnet, 400, "is for chain '0badc0de'", lambda: post_signed(localnet, signed.message, signed.signature))


def test_a_stale_call_is_rejected(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    stale = LocalnetClient(localnet.url, wall_clock=lambda: _now() - 3_600_000)
    refused(localnet, 400, "from the server's clock", lambda: stale.call(keys["alice"], "staking", "stake", USER_STAKE))


def test_a_replayed_call_is_refused_even_after_an_abort(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    signed = sign_call(keys["alice"], localnet.info.chain_identifier, Call("staking", "stake", USER_STAKE), _now())
    post_signed(localnet, signed.message, signed.signature)
    refused(localnet, 409, "already submitted", lambda: post_signed(localnet, signed.message, signed.signature))
    # A refused call is spent too: it cannot succeed later, when the state would let it.
    call = Call("staking", "request_unstake", {"record": "0x1"})
    early = sign_call(keys["admin"], localnet.info.chain_identifier, call, _now())
    refused(localnet, 400, "does not exist", lambda: post_signed(localnet, early.message, early.signature))
    refused(localnet, 409, "already submitted", lambda: post_signed(localnet, early.message, early.signature))


@pytest.mark.parametrize(
    ("module", "function", "arguments", "fragment"),
    [
        ("staking", "mint", {}, "no entry function staking::mint"),
        ("staking", "stake", {"amount": 1}, "missing ['node_name', 'role']"),
        ("staking", "stake", {**USER_STAKE, "extra": 1}, "unexpected ['extra']"),
        ("staking", "stake", {**USER_STAKE, "role": 256}, "'role' must be an integer from 0 to 255"),
        ("staking", "stake", {**USER_STAKE, "amount": -1}, "'amount' must be an integer"),
        ("staking", "stake", {**USER_STAKE, "node_name": 7}, "'node_name' must be a string"),
        ("staking", "request_unstake", {"record": "0xdead"}, "does not exist"),
        ("staking", "request_unstake", {"record": "dead"}, "is not an object id"),
        (
            "k8s_gateway",
            "issue_seal_token",
            {"record": "0x1", "permissions": "pods:get", "expires_in_ms": 1},
            "list of strings",
        ),
    ],
)
def test_invalid_transactions_are_rejected_before_running(
    localnet: Localnet, keys: dict[str, Keypair], module: str, function: str, arguments: dict[str, Any], fragment: str
) -> None:
    refused(localnet, 400, fragment, lambda: localnet.writer().call(keys["alice"], module, function, arguments))


def test_owned_inputs_must_belong_to_the_sender(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    writer = localnet.writer()
    report = writer.call(keys["alice"], "staking", "stake", USER_STAKE)
    record = next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith("StakeRecord"))
    cap = writer.admin_cap(keys["admin"].address)
    refused(
        localnet,
        400,
        f"owned by {keys['alice'].address}, not by the sender {keys['bob'].address}",
        lambda: writer.call(keys["bob"], "staking", "request_unstake", {"record": record}),
    )
    # Slashing needs the AdminCap; naming the admin's cap does not make a stranger its owner.
    refused(
        localnet,
        400,
        "admin capability",
        lambda: writer.call(
            keys["bob"], "staking", "slash", {"cap": cap, "record_id": record, "amount": 1, "reason": "x"}
        ),
    )
    # A stake record is not an AdminCap.
    refused(
        localnet,
        400,
        "not a",
        lambda: writer.call(
            keys["alice"], "staking", "slash", {"cap": record, "record_id": record, "amount": 1, "reason": "x"}
        ),
    )


def test_revocation_by_a_stranger_aborts(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    writer = localnet.writer()
    report = writer.call(keys["alice"], "staking", "stake", USER_STAKE)
    record = next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith("StakeRecord"))
    issued = writer.call(
        keys["alice"],
        "k8s_gateway",
        "issue_seal_token",
        {"record": record, "permissions": ["pods:get"], "expires_in_ms": 1000},
    )
    token = issued["events"][0]["parsedJson"]["token_id"]
    error = refused(
        localnet,
        422,
        "ENotAuthorized",
        lambda: writer.call(keys["bob"], "k8s_gateway", "revoke_seal_token", {"token_id": token}),
    )
    assert error.details["abortCode"] == 103


def test_malformed_write_requests_get_400(localnet: Localnet) -> None:
    for body in (b"not json", b"{}", json.dumps({"message": "%%%", "signature": "x"}).encode()):
        request = urllib.request.Request(localnet.url + "/localnet/v1/execute", data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        assert raised.value.code == 400
        assert json.loads(raised.value.read())["error"]["kind"] == "BadRequest"


def test_clock_control_is_off_unless_enabled(localnet: Localnet) -> None:
    refused(localnet, 403, "--allow-clock-control", lambda: localnet.writer().advance_clock(1))


def test_clock_control_lets_a_test_reach_the_end_of_a_cooldown(start_localnet: Any, keys: dict[str, Keypair]) -> None:
    net = start_localnet(admin=keys["admin"], allow_clock_control=True)
    writer = net.writer()
    report = writer.call(keys["alice"], "staking", "stake", USER_STAKE)
    record = next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith("StakeRecord"))
    writer.call(keys["alice"], "staking", "request_unstake", {"record": record})
    refused(
        net, 422, "ECooldownNotElapsed", lambda: writer.call(keys["alice"], "staking", "withdraw", {"record": record})
    )
    moved = writer.advance_clock(86_400_000)
    assert moved["offsetMs"] == 86_400_000
    refused(net, 400, "advanceMs", lambda: writer._request("POST", "/localnet/v1/clock", {"advanceMs": -5}))
    withdrawn = writer.call(keys["alice"], "staking", "withdraw", {"record": record})
    assert withdrawn["events"][0]["parsedJson"]["amount"] == "600000000"
    kinds = {(c["type"], c["objectType"].rsplit("::", 1)[-1]) for c in withdrawn["objectChanges"]}
    assert ("deleted", "StakeRecord") in kinds
    assert ("created", "SUI>") in kinds


def test_keys_of_every_scheme_can_sign(localnet: Localnet) -> None:
    writer = localnet.writer()
    for scheme in SignatureScheme:
        key = Keypair.generate(scheme)
        report = writer.call(key, "staking", "stake", USER_STAKE)
        assert report["events"][0]["sender"] == key.address


def _now() -> int:
    import time

    return time.time_ns() // 1_000_000
