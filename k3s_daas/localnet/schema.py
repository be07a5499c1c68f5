"""The subset of Sui's GraphQL schema that localnet serves.

Every type, field, argument and type modifier below is copied from the schema of
``sui-indexer-alt-graphql`` (the GraphQL service of Sui's current RPC stack, the one pysui 1.x
speaks), with fields and types left out but nothing renamed or added: a query that validates
here validates on a real network. docs/localnet.md lists what is served and how it differs.
"""

from __future__ import annotations

from typing import Final

from graphql import GraphQLSchema, build_schema

RPC_VERSION: Final = "1.60.0-k3s-daas-localnet"
"""Sent as ``x-sui-rpc-version``; pysui reads the first two parts as the schema version."""

SDL: Final = '''
"""String containing Base64-encoded binary data."""
scalar Base64

"""String representation of an arbitrary width, possibly signed integer"""
scalar BigInt

"""ISO-8601 Date and Time: RFC3339 in UTC with format: YYYY-MM-DDTHH:MM:SS.mmmZ."""
scalar DateTime

"""Arbitrary JSON data."""
scalar JSON

"""The signature of a concrete Move Type."""
scalar MoveTypeSignature

"""String containing 32 byte hex-encoded address, with a leading '0x'."""
scalar SuiAddress

"""An unsigned integer that can hold values up to 2^53 - 1."""
scalar UInt53

interface IAddressable {
  address: SuiAddress!
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter): MoveObjectConnection
}

interface IObject {
  digest: String
  objectBcs: Base64
  owner: Owner
  previousTransaction: Transaction
  storageRebate: BigInt
  version: UInt53
}

interface IMoveObject {
  contents: MoveValue
  dynamicField(name: DynamicFieldName!): DynamicField
  dynamicFields(first: Int, after: String, last: Int, before: String): DynamicFieldConnection
  hasPublicTransfer: Boolean
  moveObjectBcs: Base64
  multiGetDynamicFields(keys: [DynamicFieldName!]!): [DynamicField]!
}

type Address implements IAddressable {
  address: SuiAddress!
  asObject: Object
  dynamicField(name: DynamicFieldName!): DynamicField
  dynamicFields(first: Int, after: String, last: Int, before: String): DynamicFieldConnection
  multiGetDynamicFields(keys: [DynamicFieldName!]!): [DynamicField]!
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter): MoveObjectConnection
}

"""Object is exclusively owned by a single address, and is mutable."""
type AddressOwner {
  address: Address
}

type Checkpoint {
  digest: String
  epoch: Epoch
  networkTotalTransactions: UInt53
  previousCheckpointDigest: String
  sequenceNumber: UInt53!
  timestamp: DateTime
}

"""Object is exclusively owned by a single adderss and sequenced via consensus."""
type ConsensusAddressOwner {
  address: Address
  startVersion: UInt53
}

type DynamicField implements IAddressable & IMoveObject & IObject {
  address: SuiAddress!
  contents: MoveValue
  digest: String
  dynamicField(name: DynamicFieldName!): DynamicField
  dynamicFields(first: Int, after: String, last: Int, before: String): DynamicFieldConnection
  hasPublicTransfer: Boolean
  moveObjectBcs: Base64
  multiGetDynamicFields(keys: [DynamicFieldName!]!): [DynamicField]!
  name: MoveValue
  objectBcs: Base64
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter): MoveObjectConnection
  owner: Owner
  previousTransaction: Transaction
  storageRebate: BigInt
  value: DynamicFieldValue
  version: UInt53
}

type DynamicFieldConnection {
  edges: [DynamicFieldEdge!]!
  nodes: [DynamicField!]!
  pageInfo: PageInfo!
}

type DynamicFieldEdge {
  cursor: String!
  node: DynamicField!
}

input DynamicFieldName {
  bcs: Base64!
  type: String!
}

union DynamicFieldValue = MoveObject | MoveValue

type Epoch {
  endTimestamp: DateTime
  epochId: UInt53!
  protocolConfigs: ProtocolConfigs
  referenceGasPrice: BigInt
  startTimestamp: DateTime
}

type Event {
  contents: MoveValue
  eventBcs: Base64
  sender: Address
  sequenceNumber: UInt53!
  timestamp: DateTime
  transaction: Transaction
  transactionModule: MoveModule
}

type EventConnection {
  edges: [EventEdge!]!
  nodes: [Event!]!
  pageInfo: PageInfo!
}

type EventEdge {
  cursor: String!
  node: Event!
}

input EventFilter {
  afterCheckpoint: UInt53
  atCheckpoint: UInt53
  beforeCheckpoint: UInt53
  module: String
  sender: SuiAddress
  type: String
}

enum ExecutionStatus {
  SUCCESS
  FAILURE
}

type FeatureFlag {
  key: String!
  value: Boolean!
}

"""Object is accessible to all addresses, and is immutable."""
type Immutable {
  _: Boolean
}

type MoveModule {
  name: String!
  package: MovePackage
}

type MoveObject implements IAddressable & IMoveObject & IObject {
  address: SuiAddress!
  asDynamicField: DynamicField
  contents: MoveValue
  digest: String
  dynamicField(name: DynamicFieldName!): DynamicField
  dynamicFields(first: Int, after: String, last: Int, before: String): DynamicFieldConnection
  hasPublicTransfer: Boolean
  moveObjectBcs: Base64
  multiGetDynamicFields(keys: [DynamicFieldName!]!): [DynamicField]!
  objectBcs: Base64
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter): MoveObjectConnection
  owner: Owner
  previousTransaction: Transaction
  storageRebate: BigInt
  version: UInt53
}

type MoveObjectConnection {
  edges: [MoveObjectEdge!]!
  nodes: [MoveObject!]!
  pageInfo: PageInfo!
}

type MoveObjectEdge {
  cursor: String!
  node: MoveObject!
}

type MovePackage implements IAddressable & IObject {
  address: SuiAddress!
  digest: String
  module(name: String!): MoveModule
  moduleBcs: Base64
  objectBcs: Base64
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter): MoveObjectConnection
  owner: Owner
  previousTransaction: Transaction
  storageRebate: BigInt
  version: UInt53
}

type MoveType {
  repr: String!
  signature: MoveTypeSignature!
}

type MoveValue {
  bcs: Base64
  json: JSON
  type: MoveType
}

type Object implements IAddressable & IObject {
  address: SuiAddress!
  asMoveObject: MoveObject
  asMovePackage: MovePackage
  digest: String
  dynamicField(name: DynamicFieldName!): DynamicField
  dynamicFields(first: Int, after: String, last: Int, before: String): DynamicFieldConnection
  multiGetDynamicFields(keys: [DynamicFieldName!]!): [DynamicField]!
  objectBcs: Base64
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter): MoveObjectConnection
  owner: Owner
  previousTransaction: Transaction
  storageRebate: BigInt
  version: UInt53
}

type ObjectChange {
  address: SuiAddress!
  idCreated: Boolean
  idDeleted: Boolean
  inputState: Object
  outputState: Object
}

type ObjectChangeConnection {
  edges: [ObjectChangeEdge!]!
  nodes: [ObjectChange!]!
  pageInfo: PageInfo!
}

type ObjectChangeEdge {
  cursor: String!
  node: ObjectChange!
}

type ObjectConnection {
  edges: [ObjectEdge!]!
  nodes: [Object!]!
  pageInfo: PageInfo!
}

type ObjectEdge {
  cursor: String!
  node: Object!
}

input ObjectFilter {
  owner: SuiAddress
  ownerKind: OwnerKind
  type: String
}

input ObjectKey {
  address: SuiAddress!
  atCheckpoint: UInt53
  rootVersion: UInt53
  version: UInt53
}

"""Object is exclusively owned by a single object, and is mutable."""
type ObjectOwner {
  address: Address
}

union Owner = AddressOwner | ObjectOwner | Shared | Immutable | ConsensusAddressOwner

enum OwnerKind {
  ADDRESS
  OBJECT
  SHARED
  IMMUTABLE
}

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

type ProtocolConfig {
  key: String!
  value: String
}

type ProtocolConfigs {
  config(key: String!): ProtocolConfig
  configs: [ProtocolConfig!]!
  featureFlag(key: String!): FeatureFlag
  featureFlags: [FeatureFlag!]!
  protocolVersion: UInt53!
}

type Query {
  address(address: SuiAddress!, rootVersion: UInt53): Address!
  chainIdentifier: String!
  checkpoint(sequenceNumber: UInt53): Checkpoint
  epoch(epochId: UInt53): Epoch
  events(first: Int, after: String, last: Int, before: String, filter: EventFilter): EventConnection
  multiGetObjects(keys: [ObjectKey!]!): [Object]!
  object(address: SuiAddress!, version: UInt53, rootVersion: UInt53, atCheckpoint: UInt53): Object
  objects(first: Int, after: String, last: Int, before: String, filter: ObjectFilter!): ObjectConnection
  package(address: SuiAddress!, version: UInt53, atCheckpoint: UInt53): MovePackage
  protocolConfigs(version: UInt53): ProtocolConfigs
  serviceConfig: ServiceConfig!
  transaction(digest: String!): Transaction
}

type ServiceConfig {
  defaultPageSize(type: String!, field: String!): Int
  maxMoveValueDepth: Int
  maxMultiGetSize: Int
  maxOutputNodes: Int
  maxPageSize(type: String!, field: String!): Int
  maxQueryDepth: Int
  maxQueryNodes: Int
  maxQueryPayloadSize: Int
  maxTransactionPayloadSize: Int
  maxTypeArgumentDepth: Int
  maxTypeArgumentWidth: Int
  maxTypeNodes: Int
  mutationTimeoutMs: Int
  queryTimeoutMs: Int
}

"""Object is shared, can be used by any address, and is mutable."""
type Shared {
  initialSharedVersion: UInt53
}

type Transaction {
  digest: String!
  effects: TransactionEffects
  sender: Address
  signatures: [UserSignature!]!
}

type TransactionEffects {
  checkpoint: Checkpoint
  digest: String!
  epoch: Epoch
  events(first: Int, after: String, last: Int, before: String): EventConnection
  lamportVersion: UInt53
  objectChanges(first: Int, after: String, last: Int, before: String): ObjectChangeConnection
  status: ExecutionStatus
  timestamp: DateTime
  transaction: Transaction
}

type UserSignature {
  signatureBytes: Base64
}

schema {
  query: Query
}
'''


def build_sdl_schema() -> GraphQLSchema:
    """The schema without resolvers (what a client's validation sees)."""
    return build_schema(SDL)
