"""The GraphQL documents the chain client sends (all valid against Sui's schema).

Each read of owned objects fetches the table entries that hold their current state in the same
request (``Address.multiGetDynamicFields`` keyed by the object ids), so an object and its entry
come from one consistent checkpoint.
"""

from __future__ import annotations

from typing import Final

_OBJECT_FIELDS: Final = """
    address
    version
    owner {
      __typename
      ... on AddressOwner { address { address } }
      ... on ObjectOwner { address { address } }
      ... on Shared { initialSharedVersion }
    }
    asMoveObject { contents { type { repr } json } }
"""

_ENTRY_FIELDS: Final = """
    address
    version
    value { ... on MoveValue { type { repr } json } }
"""

CHAIN_IDENTIFIER: Final = "query ChainIdentifier { chainIdentifier checkpoint { sequenceNumber } }"

DEPLOYMENT: Final = """
query Deployment($poolType: String!, $gatewayType: String!) {
  chainIdentifier
  pool: objects(first: 2, filter: {type: $poolType}) {
    nodes { address asMoveObject { contents { type { repr } json } } }
  }
  gateway: objects(first: 2, filter: {type: $gatewayType}) {
    nodes { address asMoveObject { contents { type { repr } json } } }
  }
}
"""

OBJECTS_WITH_ENTRIES: Final = f"""
query ObjectsWithEntries($keys: [ObjectKey!]!, $table: SuiAddress!, $entryKeys: [DynamicFieldName!]!) {{
  checkpoint {{ sequenceNumber }}
  objects: multiGetObjects(keys: $keys) {{ {_OBJECT_FIELDS} }}
  table: address(address: $table) {{
    entries: multiGetDynamicFields(keys: $entryKeys) {{ {_ENTRY_FIELDS} }}
  }}
}}
"""

OWNED_OBJECTS: Final = f"""
query OwnedObjects($owner: SuiAddress!, $type: String!, $first: Int, $after: String) {{
  checkpoint {{ sequenceNumber }}
  objects(first: $first, after: $after, filter: {{owner: $owner, type: $type}}) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {_OBJECT_FIELDS} }}
  }}
}}
"""

EVENTS: Final = """
query Events($first: Int, $after: String, $filter: EventFilter) {
  checkpoint { sequenceNumber }
  events(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        sequenceNumber
        timestamp
        sender { address }
        transaction { digest effects { checkpoint { sequenceNumber } } }
        transactionModule { name package { address } }
        contents { type { repr } json }
      }
    }
  }
}
"""

TABLE_ENTRIES: Final = """
query TableEntries($table: SuiAddress!, $first: Int, $after: String) {
  checkpoint { sequenceNumber }
  address(address: $table) {
    dynamicFields(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { name { json } value { ... on MoveValue { json } } }
    }
  }
}
"""

OBJECTS_OF_TYPE: Final = """
query ObjectsOfType($type: String!, $first: Int, $after: String) {
  checkpoint { sequenceNumber }
  objects(first: $first, after: $after, filter: {type: $type}) {
    pageInfo { hasNextPage endCursor }
    nodes { address version asMoveObject { contents { type { repr } json } } }
  }
}
"""

TABLE_ENTRY: Final = """
query TableEntry($table: SuiAddress!, $name: DynamicFieldName!) {
  checkpoint { sequenceNumber }
  address(address: $table) {
    dynamicField(name: $name) { value { ... on MoveValue { json } } }
  }
}
"""
