// Copyright (c) K3s-DaaS contributors
// SPDX-License-Identifier: Apache-2.0

/// Hand-written tests of the enclave module for what the scenario vectors cannot express: what
/// `init` creates, the BCS encoding against Nautilus's own vector, the generic
/// `verify_signature<P>` with a typed payload, the read functions, and the registration rules a
/// recorded Nitro document cannot reach (`EInvalidPublicKey`), through `register_for_testing`.
/// The scenarios are in tests/vector_enclave_*_tests.move.
#[test_only]
module k3s_daas::enclave_tests;

use k3s_daas::enclave::{Self, Enclave, EnclaveConfig};
use k3s_daas::harness;
use std::bcs;
use std::string::String;
use sui::clock;
use sui::test_scenario;

const ADMIN: address = @0xad;
const ALICE: address = @0xa11ce;

// The image, key and signature of Mysten's Nautilus weather example (move/app/sources/weather.move).
const PCR0: vector<u8> =
    x"cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";
const PCR2: vector<u8> =
    x"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
const PUBLIC_KEY: vector<u8> = x"e8e62201dbe293b703c759f653107acbc2c911fa1d2e66f2c747bec95971a2af";
const SIGNATURE: vector<u8> =
    x"77b6d8be225440d00f3d6eb52e91076a8927cebfb520e58c19daf31ecf06b3798ec3d3ce9630a9eceee46d24f057794a60dd781657cb06d952269cfc5ae19500";
const SIGNED_AT_MS: u64 = 1744683300000;
const NOW_MS: u64 = 1744684007462;

/// Nautilus's payload type; its BCS is what the enclave signed.
public struct WeatherResponse has copy, drop {
    location: String,
    temperature: u64,
}

fun weather(temperature: u64): WeatherResponse {
    WeatherResponse { location: b"San Francisco".to_string(), temperature }
}

/// The admin sets Nautilus's PCRs, then ALICE registers `public_key` attested at NOW_MS - 1000.
fun register_nautilus_key(public_key: Option<vector<u8>>): harness::Harness {
    let mut h = harness::begin();
    h.update_pcrs(ADMIN, NOW_MS, PCR0, PCR0, PCR2);
    let s = h.scenario();
    s.next_tx(ALICE);
    let mut clock = clock::create_for_testing(s.ctx());
    clock.set_for_testing(NOW_MS);
    let config = s.take_shared<EnclaveConfig>();
    enclave::register_for_testing(&config, public_key, PCR0, PCR0, PCR2, NOW_MS - 1000, &clock, s.ctx());
    test_scenario::return_shared(config);
    clock.destroy_for_testing();
    h
}

#[test]
fun init_creates_an_unconfigured_config() {
    let mut h = harness::begin();
    let s = h.scenario();
    s.next_tx(ADMIN);
    let config = s.take_shared<EnclaveConfig>();
    assert!(enclave::config_version(&config) == 0, 0);
    let (pcr0, pcr1, pcr2) = enclave::config_pcrs(&config);
    assert!(pcr0 == vector[] && pcr1 == vector[] && pcr2 == vector[], 1);
    assert!(enclave::max_attestation_age_ms() == 300_000, 2);
    test_scenario::return_shared(config);
    h.end();
}

#[test]
fun intent_message_bcs_matches_nautilus() {
    // Nautilus's test_serde (move/enclave/sources/enclave.move and the Rust server's test).
    let expected = x"0020b1d110960100000d53616e204672616e636973636f0d00000000000000";
    let message = enclave::intent_message(0, 1744038900000, weather(13));
    assert!(bcs::to_bytes(&message) == expected, 0);
    assert!(enclave::signing_bytes(0, 1744038900000, &bcs::to_bytes(&weather(13))) == expected, 1);
}

#[test]
fun typed_verification_of_a_real_enclave_signature() {
    let mut h = register_nautilus_key(option::some(PUBLIC_KEY));
    let s = h.scenario();
    s.next_tx(ALICE);
    let config = s.take_shared<EnclaveConfig>();
    let registered = s.take_shared<Enclave>();
    assert!(enclave::public_key(&registered) == PUBLIC_KEY, 0);
    assert!(enclave::owner(&registered) == ALICE, 1);
    assert!(enclave::registered_at_ms(&registered) == NOW_MS, 2);
    assert!(enclave::attested_at_ms(&registered) == NOW_MS - 1000, 3);
    assert!(enclave::enclave_config_version(&registered) == 1, 4);
    assert!(enclave::is_current(&config, &registered), 5);
    assert!(enclave::verify_signature(&config, &registered, 0, SIGNED_AT_MS, weather(13), &SIGNATURE), 6);
    assert!(!enclave::verify_signature(&config, &registered, 0, SIGNED_AT_MS, weather(14), &SIGNATURE), 7);
    assert!(!enclave::verify_signature(&config, &registered, 1, SIGNED_AT_MS, weather(13), &SIGNATURE), 8);
    assert!(!enclave::verify_signature(&config, &registered, 0, SIGNED_AT_MS + 1, weather(13), &SIGNATURE), 9);
    test_scenario::return_shared(registered);
    test_scenario::return_shared(config);
    h.end();
}

#[test]
fun a_pcr_change_outdates_registered_enclaves() {
    let mut h = register_nautilus_key(option::some(PUBLIC_KEY));
    h.update_pcrs(ADMIN, NOW_MS + 1, PCR0, PCR0, PCR2);
    let s = h.scenario();
    s.next_tx(ALICE);
    let config = s.take_shared<EnclaveConfig>();
    let registered = s.take_shared<Enclave>();
    assert!(enclave::config_version(&config) == 2, 0);
    assert!(!enclave::is_current(&config, &registered), 1);
    assert!(!enclave::verify_signature(&config, &registered, 0, SIGNED_AT_MS, weather(13), &SIGNATURE), 2);
    test_scenario::return_shared(registered);
    test_scenario::return_shared(config);
    h.end();
}

#[test, expected_failure(abort_code = k3s_daas::enclave::EInvalidPublicKey)]
fun a_key_that_is_not_ed25519_is_refused() {
    // A P-256 key in DER would be 91 bytes; anything but 32 bytes is refused.
    let h = register_nautilus_key(option::some(x"04"));
    h.end();
}

#[test, expected_failure(abort_code = k3s_daas::enclave::ENoPublicKey)]
fun a_document_without_a_key_is_refused() {
    let h = register_nautilus_key(option::none());
    h.end();
}
