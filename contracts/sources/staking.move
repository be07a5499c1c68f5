// Copyright (c) K3s-DaaS contributors
// SPDX-License-Identifier: Apache-2.0

/// Stake-gated access: users, nodes and admins lock SUI in a shared `StakingPool`.
///
/// The staker owns a `StakeRecord` (the immutable facts: owner, role, node name, amount at
/// stake time); the authoritative, mutable state (current amount, status) lives in the pool's
/// `Table<ID, StakeEntry>` keyed by the record's id, so an admin can slash a stake without
/// holding the staker's owned object. Specification: docs/chain-model.md.
module k3s_daas::staking;

use std::string::String;
use sui::balance::{Self, Balance};
use sui::clock::Clock;
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::table::{Self, Table};

// === Abort codes (0-99) ===

/// The staked amount is below the minimum for the role.
const EBelowMinimum: u64 = 0;
/// The role is not 0 (user), 1 (node) or 2 (admin).
const EInvalidRole: u64 = 1;
/// A node stake needs a non-empty node name.
const ENodeNameRequired: u64 = 2;
/// Only a node stake may carry a node name.
const ENodeNameNotAllowed: u64 = 3;
/// The stake entry is not active (request_unstake) or already withdrawn (slash).
const ENotActive: u64 = 4;
/// Withdrawal needs an unstake request first.
const ENotUnstaking: u64 = 5;
/// The cooldown since the unstake request has not elapsed yet.
const ECooldownNotElapsed: u64 = 6;
/// The pool has no entry for this stake record id.
const EUnknownStake: u64 = 7;
/// A slash amount must be non-zero and at most what the entry holds.
const EInvalidSlashAmount: u64 = 8;

// === Roles, statuses, minimums ===

const ROLE_USER: u8 = 0;
const ROLE_NODE: u8 = 1;
const ROLE_ADMIN: u8 = 2;

const STATUS_ACTIVE: u8 = 0;
const STATUS_UNSTAKING: u8 = 1;
const STATUS_WITHDRAWN: u8 = 2;

/// 0.5 SUI.
const MIN_STAKE_USER: u64 = 500_000_000;
/// 1 SUI.
const MIN_STAKE_NODE: u64 = 1_000_000_000;
/// 10 SUI.
const MIN_STAKE_ADMIN: u64 = 10_000_000_000;

/// One day.
const DEFAULT_COOLDOWN_MS: u64 = 86_400_000;

// === Objects ===

/// Held by the publisher: required by `slash`, `set_cooldown`, admin revocation of Seal tokens
/// and `enclave::update_pcrs`.
public struct AdminCap has key, store {
    id: UID,
}

/// Shared: every stake's balance and its authoritative state.
public struct StakingPool has key {
    id: UID,
    balance: Balance<SUI>,
    entries: Table<ID, StakeEntry>,
    cooldown_ms: u64,
}

/// The authoritative state of one stake, keyed by its `StakeRecord` id.
public struct StakeEntry has store {
    owner: address,
    role: u8,
    amount: u64,
    node_name: String,
    status: u8,
    unstake_requested_at_ms: u64,
}

/// Owned by the staker. `amount` is the amount at stake time: the pool entry is authoritative.
public struct StakeRecord has key {
    id: UID,
    owner: address,
    role: u8,
    amount: u64,
    node_name: String,
    staked_at_ms: u64,
}

// === Events ===

public struct Staked has copy, drop {
    record_id: ID,
    owner: address,
    role: u8,
    amount: u64,
    node_name: String,
    staked_at_ms: u64,
}

public struct UnstakeRequested has copy, drop {
    record_id: ID,
    owner: address,
    amount: u64,
    available_at_ms: u64,
}

public struct Withdrawn has copy, drop {
    record_id: ID,
    owner: address,
    amount: u64,
}

public struct Slashed has copy, drop {
    record_id: ID,
    owner: address,
    amount: u64,
    remaining: u64,
    reason: String,
    role: u8,
    node_name: String,
}

// === Initialisation ===

fun init(ctx: &mut TxContext) {
    transfer::transfer(AdminCap { id: object::new(ctx) }, ctx.sender());
    transfer::share_object(StakingPool {
        id: object::new(ctx),
        balance: balance::zero<SUI>(),
        entries: table::new<ID, StakeEntry>(ctx),
        cooldown_ms: DEFAULT_COOLDOWN_MS,
    });
}

// === Entry functions ===

/// Locks `coin` in the pool under a new stake of `role`, and sends the sender a `StakeRecord`.
/// Checks, in this order: role (`EInvalidRole`), minimum (`EBelowMinimum`), node name
/// (`ENodeNameRequired` / `ENodeNameNotAllowed`).
#[allow(lint(self_transfer))]
public fun stake(
    pool: &mut StakingPool,
    coin: Coin<SUI>,
    role: u8,
    node_name: String,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(role <= ROLE_ADMIN, EInvalidRole);
    let amount = coin.value();
    assert!(amount >= min_stake(role), EBelowMinimum);
    if (role == ROLE_NODE) {
        assert!(!node_name.is_empty(), ENodeNameRequired);
    } else {
        assert!(node_name.is_empty(), ENodeNameNotAllowed);
    };

    let owner = ctx.sender();
    let staked_at_ms = clock.timestamp_ms();
    let record = StakeRecord {
        id: object::new(ctx),
        owner,
        role,
        amount,
        node_name,
        staked_at_ms,
    };
    let record_id = object::id(&record);

    pool.balance.join(coin.into_balance());
    pool
        .entries
        .add(
            record_id,
            StakeEntry {
                owner,
                role,
                amount,
                node_name,
                status: STATUS_ACTIVE,
                unstake_requested_at_ms: 0,
            },
        );

    event::emit(Staked { record_id, owner, role, amount, node_name, staked_at_ms });
    transfer::transfer(record, owner);
}

/// Starts the cooldown: the entry becomes unstaking. It can be withdrawn once
/// `now >= unstake_requested_at_ms + cooldown_ms` (the pool's cooldown at withdrawal time).
/// Checks, in this order: `EUnknownStake`, `ENotActive`.
public fun request_unstake(
    pool: &mut StakingPool,
    record: &StakeRecord,
    clock: &Clock,
    _ctx: &mut TxContext,
) {
    let record_id = object::id(record);
    assert!(pool.entries.contains(record_id), EUnknownStake);
    let cooldown_ms = pool.cooldown_ms;
    let now = clock.timestamp_ms();
    let entry = pool.entries.borrow_mut(record_id);
    assert!(entry.status == STATUS_ACTIVE, ENotActive);
    entry.status = STATUS_UNSTAKING;
    entry.unstake_requested_at_ms = now;
    event::emit(UnstakeRequested {
        record_id,
        owner: entry.owner,
        amount: entry.amount,
        available_at_ms: now + cooldown_ms,
    });
}

/// After the cooldown, sends the entry's remaining amount to the sender as a `Coin<SUI>`, sets
/// the entry's amount to 0 and its status to withdrawn, and deletes the record.
/// Checks, in this order: `EUnknownStake`, `ENotUnstaking`, `ECooldownNotElapsed`.
#[allow(lint(self_transfer))]
public fun withdraw(
    pool: &mut StakingPool,
    record: StakeRecord,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let record_id = object::id(&record);
    assert!(pool.entries.contains(record_id), EUnknownStake);
    let cooldown_ms = pool.cooldown_ms;
    let now = clock.timestamp_ms();
    let entry = pool.entries.borrow_mut(record_id);
    assert!(entry.status == STATUS_UNSTAKING, ENotUnstaking);
    assert!(now >= entry.unstake_requested_at_ms + cooldown_ms, ECooldownNotElapsed);
    let amount = entry.amount;
    let owner = entry.owner;
    entry.amount = 0;
    entry.status = STATUS_WITHDRAWN;

    let StakeRecord { id, .. } = record;
    id.delete();

    let payout = coin::take(&mut pool.balance, amount, ctx);
    transfer::public_transfer(payout, ctx.sender());
    event::emit(Withdrawn { record_id, owner, amount });
}

/// Takes `amount` (partial or full) from an active or unstaking entry and sends it to the
/// sender. The entry's status does not change; a fully slashed entry keeps amount 0.
/// Checks, in this order: `EUnknownStake`, `ENotActive` (withdrawn), `EInvalidSlashAmount`.
#[allow(lint(self_transfer))]
public fun slash(
    pool: &mut StakingPool,
    _cap: &AdminCap,
    record_id: ID,
    amount: u64,
    reason: String,
    ctx: &mut TxContext,
) {
    assert!(pool.entries.contains(record_id), EUnknownStake);
    let entry = pool.entries.borrow_mut(record_id);
    assert!(entry.status != STATUS_WITHDRAWN, ENotActive);
    assert!(amount > 0 && amount <= entry.amount, EInvalidSlashAmount);
    entry.amount = entry.amount - amount;
    let slashed = Slashed {
        record_id,
        owner: entry.owner,
        amount,
        remaining: entry.amount,
        reason,
        role: entry.role,
        node_name: entry.node_name,
    };

    let proceeds = coin::take(&mut pool.balance, amount, ctx);
    transfer::public_transfer(proceeds, ctx.sender());
    event::emit(slashed);
}

/// Changes the cooldown applied by later withdrawals (including pending unstake requests).
public fun set_cooldown(pool: &mut StakingPool, _cap: &AdminCap, cooldown_ms: u64) {
    pool.cooldown_ms = cooldown_ms;
}

// === Reads ===

/// The minimum stake of `role`. Aborts with `EInvalidRole` for an unknown role.
public fun min_stake(role: u8): u64 {
    if (role == ROLE_USER) MIN_STAKE_USER
    else if (role == ROLE_NODE) MIN_STAKE_NODE
    else if (role == ROLE_ADMIN) MIN_STAKE_ADMIN
    else abort EInvalidRole
}

public fun role_user(): u8 { ROLE_USER }

public fun role_node(): u8 { ROLE_NODE }

public fun role_admin(): u8 { ROLE_ADMIN }

public fun status_active(): u8 { STATUS_ACTIVE }

public fun status_unstaking(): u8 { STATUS_UNSTAKING }

public fun status_withdrawn(): u8 { STATUS_WITHDRAWN }

public fun record_id(record: &StakeRecord): ID { object::id(record) }

public fun record_owner(record: &StakeRecord): address { record.owner }

public fun record_role(record: &StakeRecord): u8 { record.role }

public fun record_amount(record: &StakeRecord): u64 { record.amount }

public fun record_node_name(record: &StakeRecord): String { record.node_name }

public fun record_staked_at_ms(record: &StakeRecord): u64 { record.staked_at_ms }

/// Total MIST held by the pool (the sum of all entries' amounts).
public fun pool_balance(pool: &StakingPool): u64 { pool.balance.value() }

public fun cooldown_ms(pool: &StakingPool): u64 { pool.cooldown_ms }

public fun has_entry(pool: &StakingPool, record_id: ID): bool {
    pool.entries.contains(record_id)
}

public fun entry_owner(pool: &StakingPool, record_id: ID): address {
    pool.entries.borrow(record_id).owner
}

public fun entry_role(pool: &StakingPool, record_id: ID): u8 {
    pool.entries.borrow(record_id).role
}

public fun entry_amount(pool: &StakingPool, record_id: ID): u64 {
    pool.entries.borrow(record_id).amount
}

public fun entry_node_name(pool: &StakingPool, record_id: ID): String {
    pool.entries.borrow(record_id).node_name
}

public fun entry_status(pool: &StakingPool, record_id: ID): u8 {
    pool.entries.borrow(record_id).status
}

public fun entry_unstake_requested_at_ms(pool: &StakingPool, record_id: ID): u64 {
    pool.entries.borrow(record_id).unstake_requested_at_ms
}

/// True when the stake can back a Seal token: the entry exists, is active, and holds at least
/// the minimum of its role.
public fun meets_minimum(pool: &StakingPool, record_id: ID): bool {
    if (!pool.entries.contains(record_id)) return false;
    let entry = pool.entries.borrow(record_id);
    entry.status == STATUS_ACTIVE && entry.amount >= min_stake(entry.role)
}

// === Test-only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}

#[test_only]
/// A record that has no entry in any pool (to reach the `EUnknownStake` guards).
public fun new_orphan_record_for_testing(
    role: u8,
    amount: u64,
    node_name: String,
    ctx: &mut TxContext,
): StakeRecord {
    StakeRecord {
        id: object::new(ctx),
        owner: ctx.sender(),
        role,
        amount,
        node_name,
        staked_at_ms: 0,
    }
}

#[test_only]
public fun destroy_record_for_testing(record: StakeRecord) {
    let StakeRecord { id, .. } = record;
    id.delete();
}

#[test_only]
public fun staked_event(
    record_id: ID,
    owner: address,
    role: u8,
    amount: u64,
    node_name: String,
    staked_at_ms: u64,
): Staked {
    Staked { record_id, owner, role, amount, node_name, staked_at_ms }
}

#[test_only]
public fun staked_record_id(event: &Staked): ID { event.record_id }

#[test_only]
public fun unstake_requested_event(
    record_id: ID,
    owner: address,
    amount: u64,
    available_at_ms: u64,
): UnstakeRequested {
    UnstakeRequested { record_id, owner, amount, available_at_ms }
}

#[test_only]
public fun withdrawn_event(record_id: ID, owner: address, amount: u64): Withdrawn {
    Withdrawn { record_id, owner, amount }
}

#[test_only]
public fun slashed_event(
    record_id: ID,
    owner: address,
    amount: u64,
    remaining: u64,
    reason: String,
    role: u8,
    node_name: String,
): Slashed {
    Slashed { record_id, owner, amount, remaining, reason, role, node_name }
}
