// Copyright (c) K3s-DaaS contributors
// SPDX-License-Identifier: Apache-2.0

/// Test harness used by the vector tests (tests/vector_*_tests.move, generated from
/// contracts/vectors/*.json) and the hand-written tests.
///
/// Every step function is one transaction: it starts a new transaction for `sender`, sets the
/// clock to `time_ms`, takes the shared objects (and the sender's `AdminCap` or record), calls
/// the entry function, and returns the objects. The transaction stays open afterwards, so the
/// caller can read the events it emitted with `sui::event::events_by_type` and
/// `sui::event::num_events`. The `expect_*` functions each run in a transaction of their own.
#[test_only]
module k3s_daas::harness;

use k3s_daas::enclave::{Self, Enclave, EnclaveConfig, EnclaveRegistered};
use k3s_daas::k8s_gateway::{Self, Gateway, SealTokenIssued};
use k3s_daas::staking::{Self, AdminCap, Staked, StakeRecord, StakingPool};
use std::string::String;
use sui::clock::{Self, Clock};
use sui::coin::{Self, Coin};
use sui::event;
use sui::nitro_attestation;
use sui::sui::SUI;
use sui::test_scenario::{Self, Scenario};

// Abort codes of the harness's own checks (outside the contracts' 0-199 range).
const EWrongEventCount: u64 = 900;
const EWrongAmount: u64 = 901;
const EWrongStatus: u64 = 902;
const EWrongPoolBalance: u64 = 903;
const EWrongCooldown: u64 = 904;
const EWrongRevoked: u64 = 905;
const EWrongExpiry: u64 = 906;
const EWrongNextRequestId: u64 = 907;
const EWrongResponse: u64 = 908;
const EMissingEntry: u64 = 909;
const EWrongCoin: u64 = 910;
const EWrongEnclaveConfig: u64 = 911;
const EWrongEnclave: u64 = 912;

public struct Harness {
    scenario: Scenario,
    clock: Clock,
}

// === Actors (the same addresses as the vectors' "actors") ===

public fun admin(): address { @0xad }

public fun alice(): address { @0xa11ce }

public fun bob(): address { @0xb0b }

public fun carol(): address { @0xca201 }

/// The ID of no object, for the "unknown id" cases.
public fun unknown_id(addr: address): ID { object::id_from_address(addr) }

// === Lifecycle ===

/// The admin publishes the package: every module's `init` runs in the first transaction.
public fun begin(): Harness {
    let mut scenario = test_scenario::begin(admin());
    staking::init_for_testing(scenario.ctx());
    k8s_gateway::init_for_testing(scenario.ctx());
    enclave::init_for_testing(scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    Harness { scenario, clock }
}

public fun end(h: Harness) {
    let Harness { scenario, clock } = h;
    clock.destroy_for_testing();
    scenario.end();
}

/// The underlying scenario, for hand-written tests.
public fun scenario(h: &mut Harness): &mut Scenario {
    &mut h.scenario
}

fun begin_step(h: &mut Harness, sender: address, time_ms: u64) {
    h.scenario.next_tx(sender);
    h.clock.set_for_testing(time_ms);
}

/// Asserts the number of events emitted by the current transaction.
public fun expect_event_count(n: u32) {
    assert!(event::num_events() == n, EWrongEventCount);
}

// === staking steps ===

/// `staking::stake` with a fresh coin of `amount` MIST; returns the new record's id.
public fun stake(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    amount: u64,
    role: u8,
    node_name: vector<u8>,
): ID {
    begin_step(h, sender, time_ms);
    let mut pool = h.scenario.take_shared<StakingPool>();
    let payment = coin::mint_for_testing<SUI>(amount, h.scenario.ctx());
    staking::stake(&mut pool, payment, role, node_name.to_string(), &h.clock, h.scenario.ctx());
    test_scenario::return_shared(pool);
    let staked = event::events_by_type<Staked>();
    staking::staked_record_id(staked.borrow(staked.length() - 1))
}

public fun request_unstake(h: &mut Harness, sender: address, time_ms: u64, record_id: ID) {
    begin_step(h, sender, time_ms);
    let mut pool = h.scenario.take_shared<StakingPool>();
    let record = h.scenario.take_from_sender_by_id<StakeRecord>(record_id);
    staking::request_unstake(&mut pool, &record, &h.clock, h.scenario.ctx());
    h.scenario.return_to_sender(record);
    test_scenario::return_shared(pool);
}

public fun withdraw(h: &mut Harness, sender: address, time_ms: u64, record_id: ID) {
    begin_step(h, sender, time_ms);
    let mut pool = h.scenario.take_shared<StakingPool>();
    let record = h.scenario.take_from_sender_by_id<StakeRecord>(record_id);
    staking::withdraw(&mut pool, record, &h.clock, h.scenario.ctx());
    test_scenario::return_shared(pool);
}

public fun slash(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    record_id: ID,
    amount: u64,
    reason: vector<u8>,
) {
    begin_step(h, sender, time_ms);
    let mut pool = h.scenario.take_shared<StakingPool>();
    let cap = h.scenario.take_from_sender<AdminCap>();
    staking::slash(&mut pool, &cap, record_id, amount, reason.to_string(), h.scenario.ctx());
    h.scenario.return_to_sender(cap);
    test_scenario::return_shared(pool);
}

public fun set_cooldown(h: &mut Harness, sender: address, time_ms: u64, cooldown_ms: u64) {
    begin_step(h, sender, time_ms);
    let mut pool = h.scenario.take_shared<StakingPool>();
    let cap = h.scenario.take_from_sender<AdminCap>();
    staking::set_cooldown(&mut pool, &cap, cooldown_ms);
    h.scenario.return_to_sender(cap);
    test_scenario::return_shared(pool);
}

// === k8s_gateway steps ===

/// `k8s_gateway::issue_seal_token`; returns the new token's id.
public fun issue_seal_token(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    record_id: ID,
    permissions: vector<String>,
    expires_in_ms: u64,
): ID {
    begin_step(h, sender, time_ms);
    let mut gateway = h.scenario.take_shared<Gateway>();
    let pool = h.scenario.take_shared<StakingPool>();
    let record = h.scenario.take_from_sender_by_id<StakeRecord>(record_id);
    k8s_gateway::issue_seal_token(
        &mut gateway,
        &pool,
        &record,
        permissions,
        expires_in_ms,
        &h.clock,
        h.scenario.ctx(),
    );
    h.scenario.return_to_sender(record);
    test_scenario::return_shared(pool);
    test_scenario::return_shared(gateway);
    let issued = event::events_by_type<SealTokenIssued>();
    k8s_gateway::seal_token_issued_token_id(issued.borrow(issued.length() - 1))
}

public fun revoke_seal_token(h: &mut Harness, sender: address, time_ms: u64, token_id: ID) {
    begin_step(h, sender, time_ms);
    let mut gateway = h.scenario.take_shared<Gateway>();
    k8s_gateway::revoke_seal_token(&mut gateway, token_id, h.scenario.ctx());
    test_scenario::return_shared(gateway);
}

public fun admin_revoke_seal_token(h: &mut Harness, sender: address, time_ms: u64, token_id: ID) {
    begin_step(h, sender, time_ms);
    let mut gateway = h.scenario.take_shared<Gateway>();
    let cap = h.scenario.take_from_sender<AdminCap>();
    k8s_gateway::admin_revoke_seal_token(&mut gateway, &cap, token_id, h.scenario.ctx());
    h.scenario.return_to_sender(cap);
    test_scenario::return_shared(gateway);
}

public fun submit_request(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    method: vector<u8>,
    path: vector<u8>,
    payload: vector<u8>,
) {
    begin_step(h, sender, time_ms);
    let mut gateway = h.scenario.take_shared<Gateway>();
    k8s_gateway::submit_request(
        &mut gateway,
        method.to_string(),
        path.to_string(),
        payload.to_string(),
        &h.clock,
        h.scenario.ctx(),
    );
    test_scenario::return_shared(gateway);
}

/// The relay of an enclave-signed response (no capability: the signature is what counts).
public fun store_k8s_response(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
    body: vector<u8>,
    enclave_id: ID,
    signed_at_ms: u64,
    signature: vector<u8>,
) {
    begin_step(h, sender, time_ms);
    let mut gateway = h.scenario.take_shared<Gateway>();
    let config = h.scenario.take_shared<EnclaveConfig>();
    let registered = h.scenario.take_shared_by_id<Enclave>(enclave_id);
    k8s_gateway::store_k8s_response(
        &mut gateway,
        &config,
        &registered,
        request_id,
        status_code,
        body_digest,
        body.to_string(),
        signed_at_ms,
        signature,
        &h.clock,
        h.scenario.ctx(),
    );
    test_scenario::return_shared(registered);
    test_scenario::return_shared(config);
    test_scenario::return_shared(gateway);
}

// === enclave steps ===

public fun update_pcrs(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    begin_step(h, sender, time_ms);
    let mut config = h.scenario.take_shared<EnclaveConfig>();
    let cap = h.scenario.take_from_sender<AdminCap>();
    enclave::update_pcrs(&mut config, &cap, pcr0, pcr1, pcr2);
    h.scenario.return_to_sender(cap);
    test_scenario::return_shared(config);
}

/// One transaction of two commands, as a client builds it: `load_nitro_attestation(document,
/// clock)` (which checks the document against the AWS root at the clock time), then
/// `enclave::register_enclave`. Returns the new enclave's id.
public fun register_enclave(h: &mut Harness, sender: address, time_ms: u64, document: vector<u8>): ID {
    begin_step(h, sender, time_ms);
    let config = h.scenario.take_shared<EnclaveConfig>();
    let attestation = nitro_attestation::load_nitro_attestation(document, &h.clock);
    enclave::register_enclave(&config, attestation, &h.clock, h.scenario.ctx());
    test_scenario::return_shared(config);
    let registered = event::events_by_type<EnclaveRegistered>();
    enclave::enclave_registered_enclave_id(registered.borrow(registered.length() - 1))
}

/// `enclave::register_for_testing` with the configuration's current PCRs: an enclave whose key a
/// test holds (no Nitro document can bind such a key). Returns the new enclave's id.
public fun register_for_testing(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    public_key: vector<u8>,
    attested_at_ms: u64,
): ID {
    begin_step(h, sender, time_ms);
    let config = h.scenario.take_shared<EnclaveConfig>();
    let (pcr0, pcr1, pcr2) = enclave::config_pcrs(&config);
    enclave::register_for_testing(
        &config,
        option::some(public_key),
        pcr0,
        pcr1,
        pcr2,
        attested_at_ms,
        &h.clock,
        h.scenario.ctx(),
    );
    test_scenario::return_shared(config);
    let registered = event::events_by_type<EnclaveRegistered>();
    enclave::enclave_registered_enclave_id(registered.borrow(registered.length() - 1))
}

public fun record_message(
    h: &mut Harness,
    sender: address,
    time_ms: u64,
    enclave_id: ID,
    intent: u8,
    timestamp_ms: u64,
    payload: vector<u8>,
    signature: vector<u8>,
) {
    begin_step(h, sender, time_ms);
    let config = h.scenario.take_shared<EnclaveConfig>();
    let registered = h.scenario.take_shared_by_id<Enclave>(enclave_id);
    enclave::record_message(&config, &registered, intent, timestamp_ms, payload, signature, h.scenario.ctx());
    test_scenario::return_shared(registered);
    test_scenario::return_shared(config);
}

// === State expectations (each in a transaction of its own, sent by the admin) ===

public fun expect_stake(h: &mut Harness, record_id: ID, amount: u64, status: u8) {
    h.scenario.next_tx(admin());
    let pool = h.scenario.take_shared<StakingPool>();
    assert!(staking::has_entry(&pool, record_id), EMissingEntry);
    assert!(staking::entry_amount(&pool, record_id) == amount, EWrongAmount);
    assert!(staking::entry_status(&pool, record_id) == status, EWrongStatus);
    test_scenario::return_shared(pool);
}

public fun expect_pool_balance(h: &mut Harness, balance: u64) {
    h.scenario.next_tx(admin());
    let pool = h.scenario.take_shared<StakingPool>();
    assert!(staking::pool_balance(&pool) == balance, EWrongPoolBalance);
    test_scenario::return_shared(pool);
}

public fun expect_cooldown(h: &mut Harness, cooldown_ms: u64) {
    h.scenario.next_tx(admin());
    let pool = h.scenario.take_shared<StakingPool>();
    assert!(staking::cooldown_ms(&pool) == cooldown_ms, EWrongCooldown);
    test_scenario::return_shared(pool);
}

public fun expect_token(h: &mut Harness, token_id: ID, revoked: bool, expires_at_ms: u64) {
    h.scenario.next_tx(admin());
    let gateway = h.scenario.take_shared<Gateway>();
    assert!(k8s_gateway::has_token(&gateway, token_id), EMissingEntry);
    assert!(k8s_gateway::token_revoked(&gateway, token_id) == revoked, EWrongRevoked);
    assert!(k8s_gateway::token_expires_at_ms(&gateway, token_id) == expires_at_ms, EWrongExpiry);
    test_scenario::return_shared(gateway);
}

public fun expect_next_request_id(h: &mut Harness, next_request_id: u64) {
    h.scenario.next_tx(admin());
    let gateway = h.scenario.take_shared<Gateway>();
    assert!(k8s_gateway::next_request_id(&gateway) == next_request_id, EWrongNextRequestId);
    test_scenario::return_shared(gateway);
}

public fun expect_response(
    h: &mut Harness,
    request_id: u64,
    status_code: u16,
    body_digest: vector<u8>,
    body: vector<u8>,
) {
    h.scenario.next_tx(admin());
    let gateway = h.scenario.take_shared<Gateway>();
    assert!(k8s_gateway::has_response(&gateway, request_id), EMissingEntry);
    assert!(k8s_gateway::response_status_code(&gateway, request_id) == status_code, EWrongResponse);
    assert!(k8s_gateway::response_body_digest(&gateway, request_id) == body_digest, EWrongResponse);
    assert!(k8s_gateway::response_body(&gateway, request_id) == body.to_string(), EWrongResponse);
    test_scenario::return_shared(gateway);
}

/// The most recent `Coin<SUI>` sent to `owner` (a withdrawal or slash payout) holds `value`.
public fun expect_coin(h: &mut Harness, owner: address, value: u64) {
    h.scenario.next_tx(admin());
    let payout = h.scenario.take_from_address<Coin<SUI>>(owner);
    assert!(payout.value() == value, EWrongCoin);
    test_scenario::return_to_address(owner, payout);
}

public fun expect_no_response(h: &mut Harness, request_id: u64) {
    h.scenario.next_tx(admin());
    let gateway = h.scenario.take_shared<Gateway>();
    assert!(!k8s_gateway::has_response(&gateway, request_id), EWrongResponse);
    test_scenario::return_shared(gateway);
}

public fun expect_enclave_config(
    h: &mut Harness,
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    h.scenario.next_tx(admin());
    let config = h.scenario.take_shared<EnclaveConfig>();
    assert!(enclave::config_version(&config) == version, EWrongEnclaveConfig);
    let (actual0, actual1, actual2) = enclave::config_pcrs(&config);
    assert!(actual0 == pcr0 && actual1 == pcr1 && actual2 == pcr2, EWrongEnclaveConfig);
    test_scenario::return_shared(config);
}

public fun expect_enclave(
    h: &mut Harness,
    enclave_id: ID,
    public_key: vector<u8>,
    config_version: u64,
    attested_at_ms: u64,
) {
    h.scenario.next_tx(admin());
    let registered = h.scenario.take_shared_by_id<Enclave>(enclave_id);
    assert!(enclave::public_key(&registered) == public_key, EWrongEnclave);
    assert!(enclave::enclave_config_version(&registered) == config_version, EWrongEnclave);
    assert!(enclave::attested_at_ms(&registered) == attested_at_ms, EWrongEnclave);
    test_scenario::return_shared(registered);
}
