"""K3s-DaaS: stake-gated Kubernetes. Shared code used by the operator and the webhook."""

__version__ = "0.1.0"
