"""The operator's on-chain request executor (docs/onchain-requests.md).

It follows ``K8sAPIRequest`` events, executes each request against the API server impersonating
``sui:<sender>``, and relays the enclave-signed outcome to ``k8s_gateway::store_k8s_response``,
exactly once per request id across restarts and replicas. The code is the operator's (it
follows chain events and acts on the cluster, as the rest of the operator does); the process that
runs it is the webhook's, because the response must be signed with the enclave key, which exists
only in that process's memory (``k3s-daas webhook serve --onchain-requests``).

Pure decisions: ``requests`` (what an event asks for, and whether it can be executed),
``status`` (the Kubernetes Status bodies of refusals), ``claims`` (the claim record and what to
do next with it). I/O: ``claim_store``, ``cursor``, ``transport`` (impersonated calls), ``relay``
(the chain transaction), ``executor`` (the loop).
"""
