"""The enclave side of K3s-DaaS: attestation (AWS Nitro, or a labelled development mode) and the
enclave key, shared by the webhook (which serves ``/attestation``) and the verifiers.

Modules, one concept each:

* ``attestation``: verify a Nitro attestation document against a policy (the entry point);
* ``cose``, ``document``, ``chain``, ``roots``: its layers (COSE_Sign1, the CBOR payload, the
  certificate chain, the pinned AWS root);
* ``devmode``, ``pki``: development documents under the K3s-DaaS development root;
* ``keys``, ``bcs``: the in-memory enclave Ed25519 key and the Nautilus intent-message encoding;
* ``nsm``, ``provider``, ``response``, ``remote``: getting documents from ``/dev/nsm``, the
  ``/attestation`` wire format, and checking a running webhook;
* ``registration``: whether an attested key is registered on chain (``enclave::Enclave``);
* ``commands``: ``k3s-daas attest verify``.

See docs/enclave.md.
"""
