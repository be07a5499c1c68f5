// Copyright (c) K3s-DaaS contributors
// SPDX-License-Identifier: Apache-2.0

/// Hand-written tests for what the scenario vectors cannot express: what `init` creates, the
/// owned objects' fields and the read functions, the coins paid out by `withdraw` and `slash`,
/// the `EUnknownStake` guards (unreachable with records created by `stake`), and the
/// permission validator on its own. The scenarios themselves are in tests/vector_*_tests.move.
#[test_only]
module k3s_daas::model_tests;

use k3s_daas::harness;
use k3s_daas::k8s_gateway::{Self, Gateway, SealToken};
use k3s_daas::staking::{Self, AdminCap, StakeRecord, StakingPool};
use sui::clock;
use sui::test_scenario;

const ADMIN: address = @0xad;
const ALICE: address = @0xa11ce;
const CAROL: address = @0xca201;

#[test]
fun init_creates_cap_pool_and_gateway() {
    let mut h = harness::begin();
    let s = h.scenario();
    s.next_tx(ADMIN);
    assert!(s.has_most_recent_for_sender<AdminCap>(), 0);
    let pool = s.take_shared<StakingPool>();
    assert!(staking::cooldown_ms(&pool) == 86_400_000, 1);
    assert!(staking::pool_balance(&pool) == 0, 2);
    test_scenario::return_shared(pool);
    let gateway = s.take_shared<Gateway>();
    assert!(k8s_gateway::next_request_id(&gateway) == 1, 3);
    test_scenario::return_shared(gateway);
    h.end();
}

#[test]
fun roles_statuses_and_minimums() {
    assert!(staking::role_user() == 0, 0);
    assert!(staking::role_node() == 1, 1);
    assert!(staking::role_admin() == 2, 2);
    assert!(staking::status_active() == 0, 3);
    assert!(staking::status_unstaking() == 1, 4);
    assert!(staking::status_withdrawn() == 2, 5);
    assert!(staking::min_stake(0) == 500_000_000, 6);
    assert!(staking::min_stake(1) == 1_000_000_000, 7);
    assert!(staking::min_stake(2) == 10_000_000_000, 8);
}

#[test, expected_failure(abort_code = k3s_daas::staking::EInvalidRole)]
fun min_stake_of_unknown_role_aborts() {
    staking::min_stake(3);
}

#[test]
fun stake_record_and_entry_fields() {
    let mut h = harness::begin();
    let record_id = h.stake(CAROL, 42, 1_250_000_000, 1, b"worker-7");
    let s = h.scenario();
    s.next_tx(CAROL);
    let record = s.take_from_sender_by_id<StakeRecord>(record_id);
    assert!(staking::record_id(&record) == record_id, 0);
    assert!(staking::record_owner(&record) == CAROL, 1);
    assert!(staking::record_role(&record) == 1, 2);
    assert!(staking::record_amount(&record) == 1_250_000_000, 3);
    assert!(staking::record_node_name(&record) == b"worker-7".to_string(), 4);
    assert!(staking::record_staked_at_ms(&record) == 42, 5);
    s.return_to_sender(record);
    let pool = s.take_shared<StakingPool>();
    assert!(staking::has_entry(&pool, record_id), 6);
    assert!(staking::entry_owner(&pool, record_id) == CAROL, 7);
    assert!(staking::entry_role(&pool, record_id) == 1, 8);
    assert!(staking::entry_amount(&pool, record_id) == 1_250_000_000, 9);
    assert!(staking::entry_node_name(&pool, record_id) == b"worker-7".to_string(), 10);
    assert!(staking::entry_status(&pool, record_id) == 0, 11);
    assert!(staking::entry_unstake_requested_at_ms(&pool, record_id) == 0, 12);
    assert!(staking::meets_minimum(&pool, record_id), 13);
    assert!(!staking::meets_minimum(&pool, harness::unknown_id(@0xdead)), 14);
    test_scenario::return_shared(pool);
    h.end();
}

#[test]
fun record_keeps_the_amount_at_stake_time() {
    let mut h = harness::begin();
    let record_id = h.stake(ALICE, 1, 800_000_000, 0, b"");
    h.slash(ADMIN, 2, record_id, 300_000_000, b"policy violation");
    h.request_unstake(ALICE, 3, record_id);
    let s = h.scenario();
    s.next_tx(ALICE);
    let record = s.take_from_sender_by_id<StakeRecord>(record_id);
    assert!(staking::record_amount(&record) == 800_000_000, 0);
    s.return_to_sender(record);
    let pool = s.take_shared<StakingPool>();
    assert!(staking::entry_amount(&pool, record_id) == 500_000_000, 1);
    assert!(staking::entry_status(&pool, record_id) == 1, 2);
    assert!(staking::entry_unstake_requested_at_ms(&pool, record_id) == 3, 3);
    assert!(!staking::meets_minimum(&pool, record_id), 4);
    test_scenario::return_shared(pool);
    h.end();
}

#[test]
fun withdraw_and_slash_pay_out_coins() {
    let mut h = harness::begin();
    h.set_cooldown(ADMIN, 0, 0);
    let record_id = h.stake(ALICE, 1, 700_000_000, 0, b"");
    h.slash(ADMIN, 2, record_id, 150_000_000, b"test");
    h.expect_coin(ADMIN, 150_000_000);
    h.request_unstake(ALICE, 3, record_id);
    h.withdraw(ALICE, 3, record_id);
    h.expect_coin(ALICE, 550_000_000);
    h.expect_stake(record_id, 0, 2);
    h.expect_pool_balance(0);
    let s = h.scenario();
    s.next_tx(ALICE);
    assert!(!s.has_most_recent_for_sender<StakeRecord>(), 0);
    h.end();
}

#[test, expected_failure(abort_code = k3s_daas::staking::EUnknownStake)]
fun request_unstake_of_unknown_record_aborts() {
    let mut h = harness::begin();
    let s = h.scenario();
    s.next_tx(ALICE);
    let mut pool = s.take_shared<StakingPool>();
    let clock = clock::create_for_testing(s.ctx());
    let record = staking::new_orphan_record_for_testing(0, 500_000_000, b"".to_string(), s.ctx());
    staking::request_unstake(&mut pool, &record, &clock, s.ctx());
    staking::destroy_record_for_testing(record);
    clock.destroy_for_testing();
    test_scenario::return_shared(pool);
    h.end();
}

#[test, expected_failure(abort_code = k3s_daas::staking::EUnknownStake)]
fun withdraw_of_unknown_record_aborts() {
    let mut h = harness::begin();
    let s = h.scenario();
    s.next_tx(ALICE);
    let mut pool = s.take_shared<StakingPool>();
    let clock = clock::create_for_testing(s.ctx());
    let record = staking::new_orphan_record_for_testing(0, 500_000_000, b"".to_string(), s.ctx());
    staking::withdraw(&mut pool, record, &clock, s.ctx());
    clock.destroy_for_testing();
    test_scenario::return_shared(pool);
    h.end();
}

#[test, expected_failure(abort_code = k3s_daas::k8s_gateway::EInsufficientStake)]
fun issue_with_unknown_record_aborts() {
    let mut h = harness::begin();
    let s = h.scenario();
    s.next_tx(ALICE);
    let mut gateway = s.take_shared<Gateway>();
    let pool = s.take_shared<StakingPool>();
    let clock = clock::create_for_testing(s.ctx());
    let record = staking::new_orphan_record_for_testing(0, 500_000_000, b"".to_string(), s.ctx());
    k8s_gateway::issue_seal_token(
        &mut gateway,
        &pool,
        &record,
        vector[b"pods:get".to_string()],
        60_000,
        &clock,
        s.ctx(),
    );
    staking::destroy_record_for_testing(record);
    clock.destroy_for_testing();
    test_scenario::return_shared(pool);
    test_scenario::return_shared(gateway);
    h.end();
}

#[test]
fun seal_token_and_token_entry_fields() {
    let mut h = harness::begin();
    let record_id = h.stake(ALICE, 10, 500_000_000, 0, b"");
    let token_id = h.issue_seal_token(ALICE, 20, record_id, vector[b"pods:get".to_string()], 1_000);
    let s = h.scenario();
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(k8s_gateway::seal_token_owner(&token) == ALICE, 0);
    assert!(k8s_gateway::seal_token_stake_record(&token) == record_id, 1);
    assert!(k8s_gateway::seal_token_permissions(&token) == vector[b"pods:get".to_string()], 2);
    assert!(k8s_gateway::seal_token_issued_at_ms(&token) == 20, 3);
    assert!(k8s_gateway::seal_token_expires_at_ms(&token) == 1_020, 4);
    s.return_to_sender(token);
    let gateway = s.take_shared<Gateway>();
    assert!(k8s_gateway::has_token(&gateway, token_id), 5);
    assert!(k8s_gateway::token_owner(&gateway, token_id) == ALICE, 6);
    assert!(k8s_gateway::token_stake_record(&gateway, token_id) == record_id, 7);
    assert!(!k8s_gateway::token_revoked(&gateway, token_id), 8);
    assert!(k8s_gateway::token_expires_at_ms(&gateway, token_id) == 1_020, 9);
    assert!(!k8s_gateway::has_token(&gateway, harness::unknown_id(@0xdead)), 10);
    test_scenario::return_shared(gateway);
    h.end();
}

#[test]
fun response_fields() {
    let mut h = harness::begin();
    h.submit_request(ALICE, 5, b"GET", b"/healthz", b"");
    // The key of contracts/vectors/k8s_request_response.json; its signature of
    // (request 1, status 200, sha256("ok")) at t=6.
    h.update_pcrs(ADMIN, 5, x"287d872f9ba3408e64f4f1bdeb4dffaae72cb606a0c9b496ae33665b04569e4791c87a552fb378eb665aeee5b3e52ffd", x"e8a5c11e0b8a0a8c1b7f413e9804105c280436f30a2aa9ddcb6c6b5ab4a53ec501a9a10148d536e7c03a6149bee11d2f", x"59bf07794900d96fde875ea84e810537067a82da176d4d0798401b26f3652bbe5af68b602a6d1230437b5662fa7fde36");
    let enclave_id = h.register_for_testing(CAROL, 5, x"edd73ff2269f7a6fd766cb80eaa9c6244aa0f4ace9d530bd3720fda427715e34", 5);
    let digest = x"2689367b205c16ce32ed4200942b8b8b1e262dfc70d9bc9fbc77c49699a4f1df";
    let signature =
        x"672d08d5071cacc7a75c0bfefe9eb46aaaaa268063d3d3d8d48eb135e88b119f515c6727ce2573562d311a7464e568ba35c6c289ae55b48d2dad7f6150cd6b05";
    h.store_k8s_response(CAROL, 7, 1, 200, digest, b"ok", enclave_id, 6, signature);
    h.expect_response(1, 200, digest, b"ok");
    let s = h.scenario();
    s.next_tx(ADMIN);
    let gateway = s.take_shared<Gateway>();
    assert!(k8s_gateway::response_responder(&gateway, 1) == CAROL, 0);
    assert!(k8s_gateway::response_stored_at_ms(&gateway, 1) == 7, 1);
    assert!(k8s_gateway::response_enclave_id(&gateway, 1) == enclave_id, 2);
    assert!(k8s_gateway::response_signed_at_ms(&gateway, 1) == 6, 3);
    assert!(k8s_gateway::response_signature(&gateway, 1) == signature, 4);
    assert!(k8s_gateway::response_intent() == 1, 5);
    test_scenario::return_shared(gateway);
    h.end();
}

#[test]
fun permission_format() {
    assert!(k8s_gateway::valid_permission(&b"pods:get".to_string()), 0);
    assert!(k8s_gateway::valid_permission(&b"*:*".to_string()), 1);
    assert!(k8s_gateway::valid_permission(&b"a:b".to_string()), 2);
    assert!(!k8s_gateway::valid_permission(&b"".to_string()), 3);
    assert!(!k8s_gateway::valid_permission(&b":".to_string()), 4);
    assert!(!k8s_gateway::valid_permission(&b"pods:\x0aget".to_string()), 5);
    assert!(!k8s_gateway::valid_permission(&b"pods:\x0bget".to_string()), 6);
    assert!(!k8s_gateway::valid_permission(&b"pods:\x0cget".to_string()), 7);
    assert!(!k8s_gateway::valid_permission(&b"pods:\x0dget".to_string()), 8);
    assert!(!k8s_gateway::valid_permission(&b"pods:get ".to_string()), 9);
    assert!(k8s_gateway::valid_permission(&b"pods:\x08get".to_string()), 10);
    assert!(k8s_gateway::valid_permissions(&vector[b"a:b".to_string(), b"c:d".to_string()]), 11);
    assert!(!k8s_gateway::valid_permissions(&vector[]), 12);
    assert!(!k8s_gateway::valid_permissions(&vector[b"a:b".to_string(), b"cd".to_string()]), 13);
}
