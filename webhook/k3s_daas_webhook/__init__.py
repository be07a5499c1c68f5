"""The K3s-DaaS webhook server: TokenReview authentication and the node join endpoint.

One aiohttp application over TLS (``app.create_app``). Decisions are pure functions of (verified
token, identity snapshot, now) in ``decision``; the identity snapshot is an immutable value swapped
by the SealToken watch (``watcher``), so the hot path never waits on the chain or the API server.
"""
