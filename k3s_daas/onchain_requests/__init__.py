"""On-chain request mode: Kubernetes API requests submitted on chain, executed by the enclave,
answered on chain with an enclave-signed response (docs/onchain-requests.md).

Shared by the executor (``k3s_daas_operator.onchain_requests``, hosted by the webhook process,
which holds the enclave key), localnet's ``store_k8s_response`` and the request client
(``k3s-daas request``).
"""
