"""The ``enclave`` module of contracts/sources/enclave.move, as pure functions of (state, call, time).

The admin sets the expected PCRs (``update_pcrs``), anybody registers the Ed25519 key an AWS Nitro
attestation document binds (``register_enclave``), and anybody records a message that key signed
(``record_message``). Abort codes 200-299, checks in the Move code's order, events as in Move.

On Sui, ``register_enclave`` takes the value ``sui::nitro_attestation::load_nitro_attestation``
returned in the previous command of the same transaction. Localnet has no programmable
transactions, so its ``register_enclave`` takes the document's bytes and runs that native itself,
at the transaction's clock time, before the Move code, with this project's verifier in Sui's mode
(``k3s_daas.enclave.attestation.load_nitro_attestation``: AWS root only, every certificate valid
at the clock time). Its failures abort as the native does: ``nitro_attestation::EParseError`` (1)
or ``EVerifyError`` (2). A development attestation therefore never registers, as on Sui.

``register_for_testing`` is Move's ``#[test_only]`` function of that name as a localnet *system
call*: the same rules on a given key, with the configuration's own PCRs, runnable only by
``SYSTEM_SENDER`` (0x0, an address no key signs for), so only code holding the store runs it
(``Store.execute``), never a signed call over HTTP. It registers the key of a development-mode
enclave on a development chain, and the vectors' test enclaves (docs/onchain-requests.md).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Final

from k3s_daas.enclave.attestation import load_nitro_attestation
from k3s_daas.enclave.document import AttestationDocument
from k3s_daas.enclave.errors import AttestationError, EnclaveSignatureError, MalformedAttestation
from k3s_daas.enclave.keys import IntentMessage, verify_signed_message
from k3s_daas.localnet import arguments
from k3s_daas.localnet.package import (
    ENCLAVE,
    ENCLAVE_PUBLIC_KEY_LENGTH,
    MAX_ATTESTATION_AGE_MS,
    PCR_LENGTH,
    Package,
)
from k3s_daas.localnet.state import Call, InvalidTransaction, ObjectState, Owner
from k3s_daas.localnet.transaction import Tx, abort, as_int

__all__ = [
    "FUNCTIONS",
    "SIGNATURES",
    "SYSTEM_SENDER",
    "config_input",
    "initial_config",
    "is_current",
    "register_for_testing_call",
    "valid_pcr",
]

PCR_FIELDS: Final = ("pcr0", "pcr1", "pcr2")
SYSTEM_SENDER: Final = "0x" + "0" * 64
"""The sender of localnet's system calls: no key has this address, so no signed call comes from it."""
_NATIVE: Final = "load_nitro_attestation"

SIGNATURES: Final[Mapping[tuple[str, str], Mapping[str, arguments.Parser]]] = {
    (ENCLAVE, "update_pcrs"): {
        "cap": arguments.object_id,
        "pcr0": arguments.bytes_b64,
        "pcr1": arguments.bytes_b64,
        "pcr2": arguments.bytes_b64,
    },
    # The bytes given to ``load_nitro_attestation`` (see the module docstring).
    (ENCLAVE, "register_enclave"): {"document": arguments.bytes_b64},
    (ENCLAVE, "register_for_testing"): {
        "public_key": arguments.bytes_b64,
        "attested_at_ms": arguments.U64,
        "owner": arguments.object_id,
    },
    (ENCLAVE, "record_message"): {
        "enclave": arguments.object_id,
        "intent": arguments.U8,
        "timestamp_ms": arguments.U64,
        "payload": arguments.bytes_b64,
        "signature": arguments.bytes_b64,
    },
}


def initial_config(object_id: str, package: Package, version: int) -> ObjectState:
    """What ``enclave::init`` shares: an ``EnclaveConfig`` with no PCRs, at configuration version 0."""
    contents = {"id": object_id, "pcr0": "", "pcr1": "", "pcr2": "", "version": "0"}
    return ObjectState(object_id, version, package.enclave_config, Owner.shared(version), contents)


def valid_pcr(pcr: bytes) -> bool:
    """48 bytes (SHA-384) and not all zeros (AWS reports all-zero PCR0-2 for a debug-mode enclave)."""
    return len(pcr) == PCR_LENGTH and any(pcr)


def _bytes(value: object) -> bytes:
    return base64.b64decode(str(value), validate=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def config_input(tx: Tx) -> ObjectState:
    """The shared ``EnclaveConfig``, read-only: for other modules' calls that verify enclave signatures."""
    return _config(tx, mutable=False)


def is_current(config: ObjectState, enclave: ObjectState) -> bool:
    """``enclave::is_current``: registered under the configuration version in force."""
    return as_int(enclave.contents["config_version"]) == as_int(config.contents["version"])


def _config(tx: Tx, *, mutable: bool) -> ObjectState:
    config_id = tx.deployment.enclave_config_id
    if not config_id:
        raise InvalidTransaction(
            "this chain has no EnclaveConfig: it was created before the enclave module; "
            "start `k3s-daas localnet serve` on it once to add it"
        )
    return tx.shared_input(config_id, tx.package.enclave_config, mutable=mutable)


def _update_pcrs(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "update_pcrs"
    config = _config(tx, mutable=True)
    tx.admin_cap(str(args["cap"]))
    pcrs = {name: _bytes(args[name]) for name in PCR_FIELDS}
    invalid = [name for name, value in pcrs.items() if not valid_pcr(value)]
    if invalid:
        raise abort(
            fn, "EInvalidPcr", f"{', '.join(invalid)} must be {PCR_LENGTH} bytes and not all zeros (debug mode)"
        )
    version = as_int(config.contents["version"]) + 1
    stored = {name: _b64(value) for name, value in pcrs.items()}
    tx.update(config, **stored, version=str(version))
    tx.emit(ENCLAVE, "PcrsUpdated", {"version": str(version), **stored})


def _load_nitro_attestation(tx: Tx, document: bytes) -> AttestationDocument:
    """The Sui native, at the transaction's clock time (see the module docstring)."""
    try:
        return load_nitro_attestation(document, tx.ctx.timestamp_ms)
    except MalformedAttestation as error:
        raise abort(_NATIVE, "EParseError", str(error)) from None
    except AttestationError as error:
        raise abort(_NATIVE, "EVerifyError", str(error)) from None


def _register_enclave(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "register_enclave"
    # The shared config is a transaction input (checked before any command runs); the native is
    # the transaction's first command, so its aborts come before the Move code's.
    config = _config(tx, mutable=False)
    document = _load_nitro_attestation(tx, _bytes(args["document"]))
    pcrs = {index: document.pcrs.get(index, b"") for index in range(len(PCR_FIELDS))}
    _register(tx, fn, config, document.public_key, pcrs, document.timestamp_ms, tx.ctx.sender)


def _register(
    tx: Tx,
    fn: str,
    config: ObjectState,
    public_key: bytes | None,
    pcrs: Mapping[int, bytes],
    attested_at: int,
    owner: str,
) -> None:
    """enclave.move's ``register``: the rules shared by ``register_enclave`` and ``register_for_testing``."""
    version = as_int(config.contents["version"])
    if version == 0:
        raise abort(fn, "ENotConfigured", "no PCRs have been set yet (enclave::update_pcrs)")
    if public_key is None:
        raise abort(fn, "ENoPublicKey", "the attestation document binds no public key")
    if len(public_key) != ENCLAVE_PUBLIC_KEY_LENGTH:
        raise abort(
            fn, "EInvalidPublicKey", f"the bound public key is {len(public_key)} bytes, not a 32-byte Ed25519 key"
        )
    # An absent PCR reads as empty, as enclave.move's ``document_pcr``: it matches no configuration.
    differing = [
        f"PCR{index}" for index, name in enumerate(PCR_FIELDS) if pcrs.get(index, b"") != _bytes(config.contents[name])
    ]
    if differing:
        raise abort(fn, "EPcrMismatch", f"{', '.join(differing)} of the document differ from the configuration")
    now = tx.ctx.timestamp_ms
    # A document dated after the clock (clock skew) is accepted, as in Move: its certificates were
    # already checked at the clock time by the native.
    if now > attested_at and now - attested_at > MAX_ATTESTATION_AGE_MS:
        raise abort(
            fn,
            "EStaleAttestation",
            f"the document is {now - attested_at} ms old, more than {MAX_ATTESTATION_AGE_MS} ms",
        )
    enclave_id = tx.fresh_id()
    registered = {
        "public_key": _b64(public_key),
        "config_version": str(version),
        "attested_at_ms": str(attested_at),
    }
    contents = {"id": enclave_id, **registered, "registered_at_ms": str(now), "owner": owner}
    # Shared by this transaction: ``Tx.effects`` gives it its initial shared version.
    tx.create(enclave_id, tx.package.enclave, Owner.shared(0), contents)
    tx.emit(ENCLAVE, "EnclaveRegistered", {"enclave_id": enclave_id, "owner": owner, **registered})


def register_for_testing_call(public_key: bytes, attested_at_ms: int, owner: str) -> Call:
    """The system call registering ``public_key`` for ``owner``; run it with ``Store.execute(call,
    SYSTEM_SENDER, now)``."""
    arguments = {"public_key": _b64(public_key), "attested_at_ms": attested_at_ms, "owner": owner}
    return Call(ENCLAVE, "register_for_testing", arguments)


def _register_for_testing(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "register_for_testing"
    if tx.ctx.sender != SYSTEM_SENDER:
        raise InvalidTransaction(
            "enclave::register_for_testing is a localnet system call (development and tests): it is run on the "
            "chain's store (`k3s-daas localnet register-development-enclave`), never by a signed transaction"
        )
    config = _config(tx, mutable=False)
    pcrs = {index: _bytes(config.contents[name]) for index, name in enumerate(PCR_FIELDS)}
    _register(tx, fn, config, _bytes(args["public_key"]), pcrs, as_int(args["attested_at_ms"]), str(args["owner"]))


def _record_message(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "record_message"
    config = _config(tx, mutable=False)
    enclave = tx.shared_input(str(args["enclave"]), tx.package.enclave, mutable=False)
    registered_under, current = as_int(enclave.contents["config_version"]), as_int(config.contents["version"])
    if registered_under != current:
        raise abort(
            fn,
            "EOutdatedEnclave",
            f"enclave {enclave.object_id} was registered under configuration {registered_under}, "
            f"the current one is {current}: it must register again",
        )
    intent, timestamp_ms = int(str(args["intent"])), as_int(args["timestamp_ms"])
    message = IntentMessage(intent, timestamp_ms, _bytes(args["payload"]))
    try:
        verify_signed_message(_bytes(enclave.contents["public_key"]), message, _bytes(args["signature"]))
    except EnclaveSignatureError as error:
        raise abort(fn, "EInvalidSignature", str(error)) from None
    tx.emit(
        ENCLAVE,
        "MessageRecorded",
        {
            "enclave_id": enclave.object_id,
            "sender": tx.ctx.sender,
            "intent": intent,
            "timestamp_ms": str(timestamp_ms),
            "payload": _b64(message.payload),
        },
    )


FUNCTIONS: Final[Mapping[tuple[str, str], Callable[[Tx, Mapping[str, object]], None]]] = {
    (ENCLAVE, "update_pcrs"): _update_pcrs,
    (ENCLAVE, "register_enclave"): _register_enclave,
    (ENCLAVE, "register_for_testing"): _register_for_testing,
    (ENCLAVE, "record_message"): _record_message,
}
