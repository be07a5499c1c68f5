"""The NSM device protocol (with a stand-in for the ioctl), providers and the wire format."""

from __future__ import annotations

import ctypes
import json
import struct
from pathlib import Path

import cbor2
import pytest
from enclave_testing import NOW_MS

from k3s_daas.enclave import devmode
from k3s_daas.enclave.attestation import Policy
from k3s_daas.enclave.errors import MalformedAttestation
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.enclave.nsm import (
    NSM_IOCTL_RAW,
    NSM_RESPONSE_MAX,
    NsmDevice,
    NsmError,
    decode_attestation_response,
    encode_attestation_request,
)
from k3s_daas.enclave.provider import DevProvider, NitroProvider, attestation_response, select_provider
from k3s_daas.enclave.remote import verify_response
from k3s_daas.enclave.response import FORMAT, AttestationResponse, parse_nonce


def test_ioctl_number_is_iowr_0x0a_0_for_two_iovecs() -> None:
    assert NSM_IOCTL_RAW == 0xC0200A00


def test_attestation_request_is_the_serde_encoding_of_the_rust_enum() -> None:
    request = encode_attestation_request(public_key=b"k", nonce=b"n")
    assert cbor2.loads(request) == {"Attestation": {"user_data": None, "nonce": b"n", "public_key": b"k"}}
    with pytest.raises(NsmError, match="at most 512"):
        encode_attestation_request(nonce=b"x" * 513)


def test_answers_are_decoded_or_refused() -> None:
    assert decode_attestation_response(cbor2.dumps({"Attestation": {"document": b"doc"}})) == b"doc"
    with pytest.raises(NsmError, match="InvalidArgument"):
        decode_attestation_response(cbor2.dumps({"Error": "InvalidArgument"}))
    with pytest.raises(NsmError, match="no attestation document"):
        decode_attestation_response(cbor2.dumps({"DescribeNSM": {}}))
    with pytest.raises(NsmError, match="invalid CBOR"):
        decode_attestation_response(b"\xff")


class FakeNsm:
    """Plays the driver: reads the request iovec, writes the answer and its length back."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []

    def __call__(self, fd: int, request: int, message: bytearray, mutate: bool) -> int:
        assert request == NSM_IOCTL_RAW and mutate
        req_addr, req_len, resp_addr, resp_len = struct.unpack("=QQQQ", message)
        assert resp_len == NSM_RESPONSE_MAX
        self.requests.append(ctypes.string_at(req_addr, req_len))
        ctypes.memmove(resp_addr, self.answer, len(self.answer))
        message[24:32] = struct.pack("=Q", len(self.answer))
        return 0


def test_device_round_trip(tmp_path: Path) -> None:
    node = tmp_path / "nsm"
    node.write_bytes(b"")
    fake = FakeNsm(cbor2.dumps({"Attestation": {"document": b"signed document"}}))
    device = NsmDevice(str(node), ioctl=fake)
    assert device.available
    assert device.attest(public_key=b"\x01" * 32) == b"signed document"
    assert cbor2.loads(fake.requests[0])["Attestation"]["public_key"] == b"\x01" * 32


def test_missing_device_is_a_clear_error(tmp_path: Path) -> None:
    device = NsmDevice(str(tmp_path / "absent"))
    assert not device.available
    with pytest.raises(NsmError, match="not in a Nitro enclave"):
        device.attest(public_key=b"k")


def test_provider_selection_never_falls_back_silently(tmp_path: Path) -> None:
    absent = NsmDevice(str(tmp_path / "absent"))
    with pytest.raises(NsmError, match="development mode explicitly"):
        select_provider(allow_dev=False, device=absent)
    assert select_provider(allow_dev=True, device=absent).dev_mode
    node = tmp_path / "nsm"
    node.write_bytes(b"")
    present = NsmDevice(str(node), ioctl=FakeNsm(b""))
    provider = select_provider(allow_dev=True, device=present)
    assert isinstance(provider, NitroProvider) and not provider.dev_mode


def test_development_response_says_so_and_verifies() -> None:
    key = EnclaveKey.generate()
    provider = DevProvider(devmode.DevAttestor(clock_ms=lambda: NOW_MS))
    response = attestation_response(provider, key, nonce=b"\x07" * 32)
    wire = response.to_json()
    assert wire["format"] == FORMAT
    assert (wire["mode"], wire["dev_mode"]) == ("development", True)
    parsed = AttestationResponse.from_json_bytes(json.dumps(wire).encode())
    assert parsed == response
    policy = Policy(expected_pcrs={0: devmode.DEV_PCRS[0]}, nonce=b"\x07" * 32, allow_dev=True)
    assert verify_response(parsed, policy, now_ms=NOW_MS).public_key == key.public_key


def test_response_contradicting_its_document_is_refused() -> None:
    key = EnclaveKey.generate()
    document = devmode.DevAttestor(clock_ms=lambda: NOW_MS).attest(public_key=key.public_key)
    policy = Policy(expected_pcrs={0: devmode.DEV_PCRS[0]}, allow_dev=True)
    lying = AttestationResponse(document=document, dev_mode=False, public_key=key.public_key)
    with pytest.raises(MalformedAttestation, match="says it is a Nitro enclave"):
        verify_response(lying, policy, now_ms=NOW_MS)
    other_key = AttestationResponse(document=document, dev_mode=True, public_key=b"\x00" * 32)
    with pytest.raises(MalformedAttestation, match="public_key differs"):
        verify_response(other_key, policy, now_ms=NOW_MS)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"format": "other"}).encode(),
        json.dumps({"format": FORMAT, "mode": "nitro", "dev_mode": True, "attestation": ""}).encode(),
        json.dumps({"format": FORMAT, "mode": "nitro", "dev_mode": False, "attestation": "zz"}).encode(),
        json.dumps({"format": FORMAT, "mode": "nitro", "dev_mode": False}).encode(),
    ],
)
def test_malformed_responses_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedAttestation):
        AttestationResponse.from_json_bytes(body)


def test_nonce_parameter() -> None:
    assert parse_nonce("00ff") == b"\x00\xff"
    for bad in ("", "zz", "00" * 65):
        with pytest.raises(MalformedAttestation):
            parse_nonce(bad)
