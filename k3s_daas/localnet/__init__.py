"""localnet: the embedded chain serving Sui's GraphQL for the K3s-DaaS package (docs/localnet.md).

move / package / state / semantics are the pure core (Move values, the package, entry functions);
store (SQLite), resolvers and server (GraphQL over aiohttp), protocol and client (signed writes)
and commands (the CLI) are the edges.
"""
