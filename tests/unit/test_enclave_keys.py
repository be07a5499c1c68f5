"""The enclave key and the Nautilus intent-message encoding, against Mysten's own vectors."""

from __future__ import annotations

import copy
import pickle

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from enclave_testing import RECORDED

from k3s_daas.enclave.errors import EnclaveSignatureError
from k3s_daas.enclave.keys import EnclaveKey, IntentMessage, SignedMessage, verify_signed_message
from k3s_daas.sui import bcs

NAUTILUS = RECORDED["enclave_signatures"][0]


def weather_response(location: str, temperature: int) -> bytes:
    """Nautilus's ``WeatherResponse { location: String, temperature: u64 }`` in BCS."""
    return bcs.string(location) + bcs.u64(temperature)


@pytest.mark.parametrize("vector", RECORDED["intent_message_encodings"])
def test_intent_message_bytes_match_nautilus_test_serde(vector: dict[str, object]) -> None:
    payload = bytes.fromhex(str(vector["payload"]))
    assert payload == weather_response("San Francisco", 13)
    message = IntentMessage(int(str(vector["intent"])), int(str(vector["timestamp_ms"])), payload)
    assert message.signing_bytes().hex() == vector["bcs"]


def test_real_nautilus_enclave_signature_verifies() -> None:
    message = IntentMessage(NAUTILUS["intent"], NAUTILUS["timestamp_ms"], bytes.fromhex(NAUTILUS["payload"]))
    verify_signed_message(bytes.fromhex(NAUTILUS["public_key"]), message, bytes.fromhex(NAUTILUS["signature"]))


@pytest.mark.parametrize(
    "change",
    [
        lambda m: IntentMessage(1, m.timestamp_ms, m.payload),
        lambda m: IntentMessage(m.intent, m.timestamp_ms + 1, m.payload),
        lambda m: IntentMessage(m.intent, m.timestamp_ms, weather_response("San Francisco", 14)),
    ],
)
def test_any_change_to_the_message_breaks_the_real_signature(change: object) -> None:
    message = IntentMessage(NAUTILUS["intent"], NAUTILUS["timestamp_ms"], bytes.fromhex(NAUTILUS["payload"]))
    with pytest.raises(EnclaveSignatureError, match="does not verify"):
        verify_signed_message(
            bytes.fromhex(NAUTILUS["public_key"]),
            change(message),  # type: ignore[operator]
            bytes.fromhex(NAUTILUS["signature"]),
        )


def test_sign_and_verify_round_trip_and_wire_form() -> None:
    key = EnclaveKey.generate()
    signed = key.sign_payload(3, 1_700_000_000_000, bcs.string("pods:list") + bcs.boolean(True))
    verify_signed_message(key.public_key, signed.message, signed.signature)
    assert SignedMessage.from_json(signed.to_json()) == signed
    other = EnclaveKey.generate()
    with pytest.raises(EnclaveSignatureError):
        verify_signed_message(other.public_key, signed.message, signed.signature)


def test_fixed_key_gives_reproducible_signatures() -> None:
    # Ed25519 is deterministic: a fixed test key yields the same vector everywhere (Move, Python).
    seed = bytes(range(32))
    first = EnclaveKey(Ed25519PrivateKey.from_private_bytes(seed)).sign_payload(0, 1, b"\x00")
    second = EnclaveKey(Ed25519PrivateKey.from_private_bytes(seed)).sign_payload(0, 1, b"\x00")
    assert first.signature == second.signature


def test_the_key_never_leaves_memory() -> None:
    key = EnclaveKey.generate()
    assert key.public_key.hex() in repr(key)
    with pytest.raises(TypeError, match="memory"):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)
    with pytest.raises(TypeError):
        copy.deepcopy(key)
    assert not [name for name in dir(key) if "secret" in name or "private_bytes" in name or "export" in name]


def test_bad_inputs_are_refused_early() -> None:
    with pytest.raises(ValueError, match="u8"):
        IntentMessage(256, 0, b"")
    with pytest.raises(ValueError, match="u64"):
        IntentMessage(0, -1, b"")
    message = IntentMessage(0, 0, b"")
    with pytest.raises(EnclaveSignatureError, match="32 bytes"):
        verify_signed_message(b"\x00" * 31, message, b"\x00" * 64)
    with pytest.raises(EnclaveSignatureError, match="64 bytes"):
        verify_signed_message(b"\x00" * 32, message, b"\x00" * 63)
    with pytest.raises(EnclaveSignatureError, match="not a signed enclave message"):
        SignedMessage.from_json({"intent": 0})


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (bcs.uleb128(0), "00"),
        (bcs.uleb128(127), "7f"),
        (bcs.uleb128(128), "8001"),
        (bcs.uleb128(16384), "808001"),
        (bcs.u16(0x1234), "3412"),
        (bcs.u32(1), "01000000"),
        (bcs.u64(2**64 - 1), "ff" * 8),
        (bcs.boolean(False), "00"),
        (bcs.byte_vector(b"\xab"), "01ab"),
        (bcs.string("é"), "02c3a9"),
        (bcs.address("0xad"), "00" * 31 + "ad"),
        (bcs.vector([bcs.u8(1), bcs.u8(2)]), "020102"),
    ],
)
def test_bcs_encodings(encoded: bytes, expected: str) -> None:
    assert encoded.hex() == expected


def test_bcs_range_checks() -> None:
    with pytest.raises(ValueError):
        bcs.u64(2**64)
    with pytest.raises(ValueError):
        bcs.uleb128(-1)
    with pytest.raises(ValueError):
        bcs.address("0x" + "0" * 65)
