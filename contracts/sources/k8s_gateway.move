// Copyright (c) K3s-DaaS contributors
// SPDX-License-Identifier: Apache-2.0

/// Seal tokens (stake-backed Kubernetes credentials) and the Kubernetes API request/response
/// registry.
///
/// A `SealToken` is owned by the user; its revocation and expiry live in the shared `Gateway`'s
/// `Table<ID, TokenEntry>` so that an admin can revoke a token it does not hold.
///
/// On-chain request mode: `submit_request` records a Kubernetes API request; the control plane's
/// enclave executes it and signs the outcome (`K8sResponsePayload`, intent `RESPONSE_INTENT`,
/// docs/enclave.md), and anybody relays that signed outcome to `store_k8s_response`, which
/// accepts it only with the signature of an enclave registered under the current PCRs.
/// Specification: docs/chain-model.md and docs/onchain-requests.md.
module k3s_daas::k8s_gateway;

use k3s_daas::enclave::{Self, Enclave, EnclaveConfig};
use k3s_daas::staking::{Self, AdminCap, StakeRecord, StakingPool};
use std::hash;
use std::string::String;
use sui::clock::Clock;
use sui::event;
use sui::table::{Self, Table};

// === Abort codes (100-199) ===

/// The stake entry is not active, or holds less than its role's minimum.
const EInsufficientStake: u64 = 100;
/// Node stakes cannot back Seal tokens.
const EWrongRole: u64 = 101;
/// `expires_in_ms` must be in 1..=MAX_EXPIRY_MS.
const EInvalidExpiry: u64 = 102;
/// Only the token's owner may revoke it with `revoke_seal_token`.
const ENotAuthorized: u64 = 103;
/// The token is already revoked.
const EAlreadyRevoked: u64 = 104;
/// The gateway has no entry for this token id.
const EUnknownToken: u64 = 105;
/// The permission list is empty or an item is not `resource:verb`.
const EInvalidPermission: u64 = 106;
/// The method is not GET/POST/PUT/PATCH/DELETE or the path does not start with `/`.
const EInvalidRequest: u64 = 107;
/// No request with this id was ever submitted.
const EUnknownRequest: u64 = 108;
/// A response for this request id is already stored.
const EResponseExists: u64 = 109;
/// The body digest is not 32 bytes, or the body is given and its SHA-256 is not the digest.
const EInvalidBodyDigest: u64 = 110;
/// The enclave was registered under PCRs that have since been replaced.
const EEnclaveNotCurrent: u64 = 111;
/// The signature is not the enclave's over the response.
const EInvalidResponseSignature: u64 = 112;

// === Limits ===

/// One year (365 days).
const MAX_EXPIRY_MS: u64 = 31_536_000_000;
/// Maximum length of one permission item, in bytes (UTF-8).
const MAX_PERMISSION_BYTES: u64 = 128;
/// The length of a SHA-256 digest.
const DIGEST_LENGTH: u64 = 32;

// === Enclave intents (allocated in docs/enclave.md) ===

/// `IntentMessage<K8sResponsePayload>`: the enclave's outcome of an on-chain request.
const RESPONSE_INTENT: u8 = 1;

// === Objects ===

/// Shared: token revocation/expiry and the response registry.
public struct Gateway has key {
    id: UID,
    tokens: Table<ID, TokenEntry>,
    responses: Table<u64, K8sResponse>,
    next_request_id: u64,
}

/// The authoritative state of one Seal token, keyed by the `SealToken` id.
public struct TokenEntry has store {
    owner: address,
    stake_record: ID,
    expires_at_ms: u64,
    revoked: bool,
}

/// Owned by the user.
public struct SealToken has key {
    id: UID,
    owner: address,
    stake_record: ID,
    permissions: vector<String>,
    issued_at_ms: u64,
    expires_at_ms: u64,
}

/// A stored response: the enclave-signed outcome, who relayed it and when.
public struct K8sResponse has store {
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
    body: String,
    enclave_id: ID,
    signed_at_ms: u64,
    signature: vector<u8>,
    responder: address,
    stored_at_ms: u64,
}

/// What the enclave signs for a response, as `IntentMessage { intent: RESPONSE_INTENT,
/// timestamp_ms, payload }` (BCS, Ed25519). The body itself is bound through its digest.
public struct K8sResponsePayload has copy, drop {
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
}

// === Events ===

public struct SealTokenIssued has copy, drop {
    token_id: ID,
    owner: address,
    stake_record: ID,
    permissions: vector<String>,
    expires_at_ms: u64,
}

public struct SealTokenRevoked has copy, drop {
    token_id: ID,
    owner: address,
    revoked_by: address,
}

public struct K8sAPIRequest has copy, drop {
    request_id: u64,
    sender: address,
    method: String,
    path: String,
    payload: String,
}

public struct K8sResponseStored has copy, drop {
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
    enclave_id: ID,
    signed_at_ms: u64,
    signature: vector<u8>,
}

// === Initialisation ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(Gateway {
        id: object::new(ctx),
        tokens: table::new<ID, TokenEntry>(ctx),
        responses: table::new<u64, K8sResponse>(ctx),
        next_request_id: 1,
    });
}

// === Entry functions ===

/// Issues a Seal token backed by `record` to the sender.
/// Checks, in this order: `EWrongRole`, `EInsufficientStake`, `EInvalidExpiry`,
/// `EInvalidPermission`.
#[allow(lint(self_transfer))]
public fun issue_seal_token(
    gateway: &mut Gateway,
    pool: &StakingPool,
    record: &StakeRecord,
    permissions: vector<String>,
    expires_in_ms: u64,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let stake_record = staking::record_id(record);
    assert!(staking::record_role(record) != staking::role_node(), EWrongRole);
    assert!(staking::meets_minimum(pool, stake_record), EInsufficientStake);
    assert!(expires_in_ms > 0 && expires_in_ms <= MAX_EXPIRY_MS, EInvalidExpiry);
    assert!(valid_permissions(&permissions), EInvalidPermission);

    let owner = ctx.sender();
    let issued_at_ms = clock.timestamp_ms();
    let expires_at_ms = issued_at_ms + expires_in_ms;
    let token = SealToken {
        id: object::new(ctx),
        owner,
        stake_record,
        permissions,
        issued_at_ms,
        expires_at_ms,
    };
    let token_id = object::id(&token);
    gateway
        .tokens
        .add(
            token_id,
            TokenEntry { owner, stake_record, expires_at_ms, revoked: false },
        );

    event::emit(SealTokenIssued { token_id, owner, stake_record, permissions, expires_at_ms });
    transfer::transfer(token, owner);
}

/// The owner revokes its token.
/// Checks, in this order: `EUnknownToken`, `ENotAuthorized`, `EAlreadyRevoked`.
public fun revoke_seal_token(gateway: &mut Gateway, token_id: ID, ctx: &mut TxContext) {
    assert!(gateway.tokens.contains(token_id), EUnknownToken);
    let sender = ctx.sender();
    let entry = gateway.tokens.borrow_mut(token_id);
    assert!(entry.owner == sender, ENotAuthorized);
    assert!(!entry.revoked, EAlreadyRevoked);
    entry.revoked = true;
    event::emit(SealTokenRevoked { token_id, owner: entry.owner, revoked_by: sender });
}

/// The admin revokes any token.
/// Checks, in this order: `EUnknownToken`, `EAlreadyRevoked`.
public fun admin_revoke_seal_token(
    gateway: &mut Gateway,
    _cap: &AdminCap,
    token_id: ID,
    ctx: &mut TxContext,
) {
    assert!(gateway.tokens.contains(token_id), EUnknownToken);
    let entry = gateway.tokens.borrow_mut(token_id);
    assert!(!entry.revoked, EAlreadyRevoked);
    entry.revoked = true;
    event::emit(SealTokenRevoked { token_id, owner: entry.owner, revoked_by: ctx.sender() });
}

/// Records a Kubernetes API request under the next request id (the first is 1).
/// Aborts with `EInvalidRequest` unless `method` is exactly one of GET, POST, PUT, PATCH, DELETE
/// and `path` starts with `/`.
public fun submit_request(
    gateway: &mut Gateway,
    method: String,
    path: String,
    payload: String,
    _clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(valid_method(&method) && starts_with_slash(&path), EInvalidRequest);
    let request_id = gateway.next_request_id;
    gateway.next_request_id = request_id + 1;
    event::emit(K8sAPIRequest { request_id, sender: ctx.sender(), method, path, payload });
}

/// Stores the enclave-signed response to request `request_id`. Anybody may relay it: the
/// signature of a current enclave over `K8sResponsePayload { request_id, status_code,
/// body_digest }` at `signed_at_ms` is what counts. `body` is the response body when it is kept
/// on chain, or empty when it is kept off chain (docs/onchain-requests.md).
/// Checks, in this order: `EUnknownRequest` (0 or not yet assigned), `EResponseExists`,
/// `EInvalidBodyDigest`, `EEnclaveNotCurrent`, `EInvalidResponseSignature`.
public fun store_k8s_response(
    gateway: &mut Gateway,
    config: &EnclaveConfig,
    enclave: &Enclave,
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
    body: String,
    signed_at_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(request_id > 0 && request_id < gateway.next_request_id, EUnknownRequest);
    assert!(!gateway.responses.contains(request_id), EResponseExists);
    assert!(valid_body_digest(&body, &body_digest), EInvalidBodyDigest);
    assert!(enclave::is_current(config, enclave), EEnclaveNotCurrent);
    let payload = K8sResponsePayload { request_id, status_code, body_digest };
    assert!(
        enclave::verify_signature(config, enclave, RESPONSE_INTENT, signed_at_ms, payload, &signature),
        EInvalidResponseSignature,
    );
    let enclave_id = object::id(enclave);
    gateway
        .responses
        .add(
            request_id,
            K8sResponse {
                request_id,
                status_code,
                body_digest,
                body,
                enclave_id,
                signed_at_ms,
                signature,
                responder: ctx.sender(),
                stored_at_ms: clock.timestamp_ms(),
            },
        );
    event::emit(K8sResponseStored {
        request_id,
        status_code,
        body_digest,
        enclave_id,
        signed_at_ms,
        signature,
    });
}

// === Validation ===

/// A non-empty list whose every item is a valid permission.
public fun valid_permissions(permissions: &vector<String>): bool {
    let n = permissions.length();
    if (n == 0) return false;
    let mut i = 0;
    while (i < n) {
        if (!valid_permission(permissions.borrow(i))) return false;
        i = i + 1;
    };
    true
}

/// `resource:verb`: at most MAX_PERMISSION_BYTES bytes, exactly one `:`, both sides non-empty,
/// and no ASCII whitespace byte (0x09-0x0D, 0x20) anywhere.
public fun valid_permission(permission: &String): bool {
    let bytes = permission.as_bytes();
    let len = bytes.length();
    if (len == 0 || len > MAX_PERMISSION_BYTES) return false;
    let mut colons = 0;
    let mut colon_at = 0;
    let mut i = 0;
    while (i < len) {
        let b = *bytes.borrow(i);
        if (is_ascii_whitespace(b)) return false;
        if (b == 0x3a) {
            colons = colons + 1;
            colon_at = i;
        };
        i = i + 1;
    };
    colons == 1 && colon_at > 0 && colon_at + 1 < len
}

/// A SHA-256 digest, and the body's own when the body is kept on chain (non-empty).
fun valid_body_digest(body: &String, body_digest: &vector<u8>): bool {
    if (body_digest.length() != DIGEST_LENGTH) return false;
    body.is_empty() || hash::sha2_256(*body.as_bytes()) == *body_digest
}

fun is_ascii_whitespace(b: u8): bool {
    b == 0x20 || (b >= 0x09 && b <= 0x0d)
}

fun valid_method(method: &String): bool {
    let m = method.as_bytes();
    *m == b"GET" || *m == b"POST" || *m == b"PUT" || *m == b"PATCH" || *m == b"DELETE"
}

fun starts_with_slash(path: &String): bool {
    let p = path.as_bytes();
    !p.is_empty() && *p.borrow(0) == 0x2f
}

// === Reads ===

public fun has_token(gateway: &Gateway, token_id: ID): bool {
    gateway.tokens.contains(token_id)
}

public fun token_owner(gateway: &Gateway, token_id: ID): address {
    gateway.tokens.borrow(token_id).owner
}

public fun token_stake_record(gateway: &Gateway, token_id: ID): ID {
    gateway.tokens.borrow(token_id).stake_record
}

public fun token_expires_at_ms(gateway: &Gateway, token_id: ID): u64 {
    gateway.tokens.borrow(token_id).expires_at_ms
}

public fun token_revoked(gateway: &Gateway, token_id: ID): bool {
    gateway.tokens.borrow(token_id).revoked
}

public fun next_request_id(gateway: &Gateway): u64 { gateway.next_request_id }

public fun has_response(gateway: &Gateway, request_id: u64): bool {
    gateway.responses.contains(request_id)
}

public fun response_status_code(gateway: &Gateway, request_id: u64): u16 {
    gateway.responses.borrow(request_id).status_code
}

public fun response_body_digest(gateway: &Gateway, request_id: u64): vector<u8> {
    gateway.responses.borrow(request_id).body_digest
}

public fun response_body(gateway: &Gateway, request_id: u64): String {
    gateway.responses.borrow(request_id).body
}

public fun response_responder(gateway: &Gateway, request_id: u64): address {
    gateway.responses.borrow(request_id).responder
}

public fun response_stored_at_ms(gateway: &Gateway, request_id: u64): u64 {
    gateway.responses.borrow(request_id).stored_at_ms
}

public fun response_enclave_id(gateway: &Gateway, request_id: u64): ID {
    gateway.responses.borrow(request_id).enclave_id
}

public fun response_signed_at_ms(gateway: &Gateway, request_id: u64): u64 {
    gateway.responses.borrow(request_id).signed_at_ms
}

public fun response_signature(gateway: &Gateway, request_id: u64): vector<u8> {
    gateway.responses.borrow(request_id).signature
}

/// The intent value of a signed response.
public fun response_intent(): u8 { RESPONSE_INTENT }

/// The payload an enclave signs for a response (for verifiers in other packages).
public fun response_payload(request_id: u64, status_code: u16, body_digest: vector<u8>): K8sResponsePayload {
    K8sResponsePayload { request_id, status_code, body_digest }
}

public fun seal_token_owner(token: &SealToken): address { token.owner }

public fun seal_token_stake_record(token: &SealToken): ID { token.stake_record }

public fun seal_token_permissions(token: &SealToken): vector<String> { token.permissions }

public fun seal_token_issued_at_ms(token: &SealToken): u64 { token.issued_at_ms }

public fun seal_token_expires_at_ms(token: &SealToken): u64 { token.expires_at_ms }

// === Test-only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}

#[test_only]
public fun seal_token_issued_event(
    token_id: ID,
    owner: address,
    stake_record: ID,
    permissions: vector<String>,
    expires_at_ms: u64,
): SealTokenIssued {
    SealTokenIssued { token_id, owner, stake_record, permissions, expires_at_ms }
}

#[test_only]
public fun seal_token_issued_token_id(event: &SealTokenIssued): ID { event.token_id }

#[test_only]
public fun seal_token_revoked_event(
    token_id: ID,
    owner: address,
    revoked_by: address,
): SealTokenRevoked {
    SealTokenRevoked { token_id, owner, revoked_by }
}

#[test_only]
public fun k8s_api_request_event(
    request_id: u64,
    sender: address,
    method: String,
    path: String,
    payload: String,
): K8sAPIRequest {
    K8sAPIRequest { request_id, sender, method, path, payload }
}

#[test_only]
public fun k8s_response_stored_event(
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
    enclave_id: ID,
    signed_at_ms: u64,
    signature: vector<u8>,
): K8sResponseStored {
    K8sResponseStored { request_id, status_code, body_digest, enclave_id, signed_at_ms, signature }
}
