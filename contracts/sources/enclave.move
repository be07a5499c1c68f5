// Copyright (c) K3s-DaaS contributors
// SPDX-License-Identifier: Apache-2.0

/// The enclave that runs the K3s-DaaS control plane, in the style of Mysten's Nautilus
/// (github.com/MystenLabs/nautilus, move/enclave): the admin sets the expected PCRs, anybody
/// registers an enclave public key with an AWS Nitro attestation document that carries those PCRs
/// (verified by the Sui native `nitro_attestation::load_nitro_attestation`), and what that key
/// signs can then be checked or recorded on chain.
///
/// Enclave-signed messages are Nautilus's `IntentMessage<T> { intent: u8, timestamp_ms: u64,
/// payload: T }` in BCS, signed with Ed25519. Because BCS encodes a struct as its fields back to
/// back, the signed bytes are `bcs(intent) || bcs(timestamp_ms) || bcs(payload)`, which lets
/// `record_message` take the payload as its BCS bytes.
///
/// Changing the PCRs bumps the configuration version; enclaves registered under an older version
/// no longer verify (`EOutdatedEnclave`), so a new image is trusted only once it registers.
/// Specification: docs/chain-model.md.
module k3s_daas::enclave;

use k3s_daas::staking::AdminCap;
use std::bcs;
use sui::clock::Clock;
use sui::ed25519;
use sui::event;
use sui::nitro_attestation::NitroAttestationDocument;

// === Abort codes (200-299) ===

/// No PCRs have been set yet (`update_pcrs` was never called).
const ENotConfigured: u64 = 200;
/// A PCR is not 48 bytes (SHA-384), or is all zeros (an enclave in debug mode).
const EInvalidPcr: u64 = 201;
/// The attestation document binds no public key.
const ENoPublicKey: u64 = 202;
/// The bound public key is not a 32-byte Ed25519 key.
const EInvalidPublicKey: u64 = 203;
/// PCR0, PCR1 or PCR2 of the document differs from the configuration.
const EPcrMismatch: u64 = 204;
/// The document is older than MAX_ATTESTATION_AGE_MS at registration.
const EStaleAttestation: u64 = 205;
/// The enclave was registered under PCRs that have since been replaced.
const EOutdatedEnclave: u64 = 206;
/// The Ed25519 signature does not verify with the enclave's key.
const EInvalidSignature: u64 = 207;

// === Limits ===

/// The length of a SHA-384 PCR.
const PCR_LENGTH: u64 = 48;
/// The length of an Ed25519 public key.
const PUBLIC_KEY_LENGTH: u64 = 32;
/// How old an attestation document may be when it is registered: five minutes.
const MAX_ATTESTATION_AGE_MS: u64 = 300_000;

// === Objects ===

/// Shared: the expected enclave image. `version` counts the PCR changes (0: never set).
public struct EnclaveConfig has key {
    id: UID,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    version: u64,
}

/// Shared: one registered enclave key, attested under configuration `config_version`.
public struct Enclave has key {
    id: UID,
    public_key: vector<u8>,
    config_version: u64,
    attested_at_ms: u64,
    registered_at_ms: u64,
    owner: address,
}

/// What an enclave signs (in BCS), as in Nautilus.
public struct IntentMessage<T: drop> has copy, drop {
    intent: u8,
    timestamp_ms: u64,
    payload: T,
}

// === Events ===

public struct PcrsUpdated has copy, drop {
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
}

public struct EnclaveRegistered has copy, drop {
    enclave_id: ID,
    owner: address,
    public_key: vector<u8>,
    config_version: u64,
    attested_at_ms: u64,
}

public struct MessageRecorded has copy, drop {
    enclave_id: ID,
    sender: address,
    intent: u8,
    timestamp_ms: u64,
    payload: vector<u8>,
}

// === Initialisation ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(EnclaveConfig {
        id: object::new(ctx),
        pcr0: vector[],
        pcr1: vector[],
        pcr2: vector[],
        version: 0,
    });
}

// === Entry functions ===

/// Sets the expected PCR0 (image), PCR1 (kernel) and PCR2 (application) and bumps the version.
/// Aborts with `EInvalidPcr` unless each is 48 bytes and not all zeros.
public fun update_pcrs(
    config: &mut EnclaveConfig,
    _cap: &AdminCap,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    assert!(valid_pcr(&pcr0) && valid_pcr(&pcr1) && valid_pcr(&pcr2), EInvalidPcr);
    let version = config.version + 1;
    config.pcr0 = pcr0;
    config.pcr1 = pcr1;
    config.pcr2 = pcr2;
    config.version = version;
    event::emit(PcrsUpdated { version, pcr0, pcr1, pcr2 });
}

/// Registers the public key an attestation document binds, as a new shared `Enclave` owned by
/// the sender. The document comes from `sui::nitro_attestation::load_nitro_attestation` in the
/// same transaction (which checks its signature and AWS certificate chain at the clock time).
/// Checks, in this order: `ENotConfigured`, `ENoPublicKey`, `EInvalidPublicKey`,
/// `EPcrMismatch`, `EStaleAttestation`.
public fun register_enclave(
    config: &EnclaveConfig,
    document: NitroAttestationDocument,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let public_key = *document.public_key();
    let pcr0 = document_pcr(&document, 0);
    let pcr1 = document_pcr(&document, 1);
    let pcr2 = document_pcr(&document, 2);
    let attested_at_ms = *document.timestamp();
    register(config, public_key, pcr0, pcr1, pcr2, attested_at_ms, clock, ctx);
}

/// Records a message the enclave signed: `payload` is the BCS encoding of the message's payload
/// (its type is given by `intent`). Anybody may submit it; the signature is what counts.
/// Checks, in this order: `EOutdatedEnclave`, `EInvalidSignature`.
public fun record_message(
    config: &EnclaveConfig,
    enclave: &Enclave,
    intent: u8,
    timestamp_ms: u64,
    payload: vector<u8>,
    signature: vector<u8>,
    ctx: &TxContext,
) {
    assert!(enclave.config_version == config.version, EOutdatedEnclave);
    let message = signing_bytes(intent, timestamp_ms, &payload);
    assert!(ed25519::ed25519_verify(&signature, &enclave.public_key, &message), EInvalidSignature);
    event::emit(MessageRecorded {
        enclave_id: object::id(enclave),
        sender: ctx.sender(),
        intent,
        timestamp_ms,
        payload,
    });
}

// === Verification, for other modules ===

/// True when `enclave` is current and signed `IntentMessage { intent, timestamp_ms, payload }`.
public fun verify_signature<P: drop>(
    config: &EnclaveConfig,
    enclave: &Enclave,
    intent: u8,
    timestamp_ms: u64,
    payload: P,
    signature: &vector<u8>,
): bool {
    if (enclave.config_version != config.version) return false;
    let message = bcs::to_bytes(&IntentMessage { intent, timestamp_ms, payload });
    ed25519::ed25519_verify(signature, &enclave.public_key, &message)
}

/// The bytes an enclave signs for a payload given in BCS: equal to
/// `bcs::to_bytes(&IntentMessage { intent, timestamp_ms, payload: P })` when `payload_bcs` is
/// `bcs::to_bytes(&p)`.
public fun signing_bytes(intent: u8, timestamp_ms: u64, payload_bcs: &vector<u8>): vector<u8> {
    let mut bytes = bcs::to_bytes(&intent);
    bytes.append(bcs::to_bytes(&timestamp_ms));
    bytes.append(*payload_bcs);
    bytes
}

/// True when `enclave` was registered under the current PCRs.
public fun is_current(config: &EnclaveConfig, enclave: &Enclave): bool {
    enclave.config_version == config.version
}

// === Internal ===

/// The registration rules, shared by `register_enclave` and the tests.
fun register(
    config: &EnclaveConfig,
    public_key: Option<vector<u8>>,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    attested_at_ms: u64,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(config.version > 0, ENotConfigured);
    assert!(public_key.is_some(), ENoPublicKey);
    let public_key = public_key.destroy_some();
    assert!(public_key.length() == PUBLIC_KEY_LENGTH, EInvalidPublicKey);
    assert!(pcr0 == config.pcr0 && pcr1 == config.pcr1 && pcr2 == config.pcr2, EPcrMismatch);
    let now = clock.timestamp_ms();
    // A document dated after the clock (clock skew) is accepted: its certificates were already
    // checked at the clock time by `load_nitro_attestation`.
    assert!(now <= attested_at_ms || now - attested_at_ms <= MAX_ATTESTATION_AGE_MS, EStaleAttestation);
    let owner = ctx.sender();
    let enclave = Enclave {
        id: object::new(ctx),
        public_key,
        config_version: config.version,
        attested_at_ms,
        registered_at_ms: now,
        owner,
    };
    event::emit(EnclaveRegistered {
        enclave_id: object::id(&enclave),
        owner,
        public_key,
        config_version: config.version,
        attested_at_ms,
    });
    transfer::share_object(enclave);
}

/// The value of PCR `index` in the document (empty if absent: then it matches no configuration).
fun document_pcr(document: &NitroAttestationDocument, index: u8): vector<u8> {
    let pcrs = document.pcrs();
    let mut i = 0;
    while (i < pcrs.length()) {
        let pcr = pcrs.borrow(i);
        if (pcr.index() == index) return *pcr.value();
        i = i + 1;
    };
    vector[]
}

/// 48 bytes, not all zeros (AWS reports all-zero PCR0-2 for an enclave in debug mode).
fun valid_pcr(pcr: &vector<u8>): bool {
    if (pcr.length() != PCR_LENGTH) return false;
    let mut i = 0;
    while (i < PCR_LENGTH) {
        if (*pcr.borrow(i) != 0) return true;
        i = i + 1;
    };
    false
}

// === Reads ===

public fun config_version(config: &EnclaveConfig): u64 { config.version }

public fun config_pcrs(config: &EnclaveConfig): (vector<u8>, vector<u8>, vector<u8>) {
    (config.pcr0, config.pcr1, config.pcr2)
}

public fun public_key(enclave: &Enclave): vector<u8> { enclave.public_key }

public fun enclave_config_version(enclave: &Enclave): u64 { enclave.config_version }

public fun attested_at_ms(enclave: &Enclave): u64 { enclave.attested_at_ms }

public fun registered_at_ms(enclave: &Enclave): u64 { enclave.registered_at_ms }

public fun owner(enclave: &Enclave): address { enclave.owner }

public fun max_attestation_age_ms(): u64 { MAX_ATTESTATION_AGE_MS }

// === Test-only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}

/// `register_enclave` without a Nitro document: the same rules on given fields, for tests of the
/// rules the recorded documents cannot reach (another key, a key of the wrong length).
#[test_only]
public fun register_for_testing(
    config: &EnclaveConfig,
    public_key: Option<vector<u8>>,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    attested_at_ms: u64,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    register(config, public_key, pcr0, pcr1, pcr2, attested_at_ms, clock, ctx)
}

#[test_only]
public fun intent_message<P: drop>(intent: u8, timestamp_ms: u64, payload: P): IntentMessage<P> {
    IntentMessage { intent, timestamp_ms, payload }
}

#[test_only]
public fun pcrs_updated_event(
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
): PcrsUpdated {
    PcrsUpdated { version, pcr0, pcr1, pcr2 }
}

#[test_only]
public fun enclave_registered_event(
    enclave_id: ID,
    owner: address,
    public_key: vector<u8>,
    config_version: u64,
    attested_at_ms: u64,
): EnclaveRegistered {
    EnclaveRegistered { enclave_id, owner, public_key, config_version, attested_at_ms }
}

#[test_only]
public fun enclave_registered_enclave_id(event: &EnclaveRegistered): ID { event.enclave_id }

#[test_only]
public fun message_recorded_event(
    enclave_id: ID,
    sender: address,
    intent: u8,
    timestamp_ms: u64,
    payload: vector<u8>,
): MessageRecorded {
    MessageRecorded { enclave_id, sender, intent, timestamp_ms, payload }
}
