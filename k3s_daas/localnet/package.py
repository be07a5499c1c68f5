"""The K3s-DaaS Move package as localnet publishes it: struct layouts, type names, abort codes.

Mirrors contracts/sources (see docs/chain-model.md); field order is the Move declaration order,
which fixes the BCS encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from k3s_daas.localnet.move import (
    ADDRESS,
    BOOL,
    ID_TYPE,
    STRING_TYPE,
    U8,
    U16,
    U64,
    UID_TYPE,
    Fields,
    LayoutRegistry,
    TypeTag,
    balance_type,
    canonical_address,
    table_type,
)

STAKING: Final = "staking"
GATEWAY: Final = "k8s_gateway"
ENCLAVE: Final = "enclave"
MODULES: Final = (ENCLAVE, GATEWAY, STAKING)
# The Sui framework module whose native ``load_nitro_attestation`` ``register_enclave`` relies on.
NITRO_ATTESTATION: Final = "nitro_attestation"

DEFAULT_COOLDOWN_MS: Final = 86_400_000
MAX_TOKEN_LIFETIME_MS: Final = 31_536_000_000
MAX_PERMISSION_BYTES: Final = 128
REQUEST_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
PCR_LENGTH: Final = 48
ENCLAVE_PUBLIC_KEY_LENGTH: Final = 32
MAX_ATTESTATION_AGE_MS: Final = 300_000


@dataclass(frozen=True, slots=True)
class AbortCode:
    module: str
    code: int
    name: str


ABORTS: Final = {
    abort.name: abort
    for abort in (
        AbortCode(STAKING, 0, "EBelowMinimum"),
        AbortCode(STAKING, 1, "EInvalidRole"),
        AbortCode(STAKING, 2, "ENodeNameRequired"),
        AbortCode(STAKING, 3, "ENodeNameNotAllowed"),
        AbortCode(STAKING, 4, "ENotActive"),
        AbortCode(STAKING, 5, "ENotUnstaking"),
        AbortCode(STAKING, 6, "ECooldownNotElapsed"),
        AbortCode(STAKING, 7, "EUnknownStake"),
        AbortCode(STAKING, 8, "EInvalidSlashAmount"),
        AbortCode(GATEWAY, 100, "EInsufficientStake"),
        AbortCode(GATEWAY, 101, "EWrongRole"),
        AbortCode(GATEWAY, 102, "EInvalidExpiry"),
        AbortCode(GATEWAY, 103, "ENotAuthorized"),
        AbortCode(GATEWAY, 104, "EAlreadyRevoked"),
        AbortCode(GATEWAY, 105, "EUnknownToken"),
        AbortCode(GATEWAY, 106, "EInvalidPermission"),
        AbortCode(GATEWAY, 107, "EInvalidRequest"),
        AbortCode(GATEWAY, 108, "EUnknownRequest"),
        AbortCode(GATEWAY, 109, "EResponseExists"),
        AbortCode(GATEWAY, 110, "EInvalidBodyDigest"),
        AbortCode(GATEWAY, 111, "EEnclaveNotCurrent"),
        AbortCode(GATEWAY, 112, "EInvalidResponseSignature"),
        AbortCode(ENCLAVE, 200, "ENotConfigured"),
        AbortCode(ENCLAVE, 201, "EInvalidPcr"),
        AbortCode(ENCLAVE, 202, "ENoPublicKey"),
        AbortCode(ENCLAVE, 203, "EInvalidPublicKey"),
        AbortCode(ENCLAVE, 204, "EPcrMismatch"),
        AbortCode(ENCLAVE, 205, "EStaleAttestation"),
        AbortCode(ENCLAVE, 206, "EOutdatedEnclave"),
        AbortCode(ENCLAVE, 207, "EInvalidSignature"),
        AbortCode(NITRO_ATTESTATION, 1, "EParseError"),
        AbortCode(NITRO_ATTESTATION, 2, "EVerifyError"),
    )
}


@dataclass(frozen=True)
class Package:
    """One published copy of the package: its id decides every type name."""

    package_id: str
    layouts: LayoutRegistry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "package_id", canonical_address(self.package_id))
        object.__setattr__(self, "layouts", LayoutRegistry(self._structs()))

    def type(self, module: str, name: str, *params: TypeTag) -> TypeTag:
        return TypeTag.struct(self.package_id, module, name, *params)

    @property
    def admin_cap(self) -> TypeTag:
        return self.type(STAKING, "AdminCap")

    @property
    def staking_pool(self) -> TypeTag:
        return self.type(STAKING, "StakingPool")

    @property
    def stake_entry(self) -> TypeTag:
        return self.type(STAKING, "StakeEntry")

    @property
    def stake_record(self) -> TypeTag:
        return self.type(STAKING, "StakeRecord")

    @property
    def gateway(self) -> TypeTag:
        return self.type(GATEWAY, "Gateway")

    @property
    def token_entry(self) -> TypeTag:
        return self.type(GATEWAY, "TokenEntry")

    @property
    def seal_token(self) -> TypeTag:
        return self.type(GATEWAY, "SealToken")

    @property
    def k8s_response(self) -> TypeTag:
        return self.type(GATEWAY, "K8sResponse")

    @property
    def enclave_config(self) -> TypeTag:
        return self.type(ENCLAVE, "EnclaveConfig")

    @property
    def enclave(self) -> TypeTag:
        return self.type(ENCLAVE, "Enclave")

    def event(self, module: str, name: str) -> TypeTag:
        return self.type(module, name)

    def _structs(self) -> dict[tuple[str, str, str], Fields]:
        pkg = self.package_id
        strings = TypeTag.vector(STRING_TYPE)
        byte_vector = TypeTag.vector(U8)
        stake_entry = TypeTag.struct(pkg, STAKING, "StakeEntry")
        token_entry = TypeTag.struct(pkg, GATEWAY, "TokenEntry")
        response = TypeTag.struct(pkg, GATEWAY, "K8sResponse")
        structs: dict[tuple[str, str], Fields] = {
            (STAKING, "AdminCap"): (("id", UID_TYPE),),
            (STAKING, "StakingPool"): (
                ("id", UID_TYPE),
                ("balance", balance_type()),
                ("entries", table_type(ID_TYPE, stake_entry)),
                ("cooldown_ms", U64),
            ),
            (STAKING, "StakeEntry"): (
                ("owner", ADDRESS),
                ("role", U8),
                ("amount", U64),
                ("node_name", STRING_TYPE),
                ("status", U8),
                ("unstake_requested_at_ms", U64),
            ),
            (STAKING, "StakeRecord"): (
                ("id", UID_TYPE),
                ("owner", ADDRESS),
                ("role", U8),
                ("amount", U64),
                ("node_name", STRING_TYPE),
                ("staked_at_ms", U64),
            ),
            (STAKING, "Staked"): (
                ("record_id", ID_TYPE),
                ("owner", ADDRESS),
                ("role", U8),
                ("amount", U64),
                ("node_name", STRING_TYPE),
                ("staked_at_ms", U64),
            ),
            (STAKING, "UnstakeRequested"): (
                ("record_id", ID_TYPE),
                ("owner", ADDRESS),
                ("amount", U64),
                ("available_at_ms", U64),
            ),
            (STAKING, "Withdrawn"): (("record_id", ID_TYPE), ("owner", ADDRESS), ("amount", U64)),
            (STAKING, "Slashed"): (
                ("record_id", ID_TYPE),
                ("owner", ADDRESS),
                ("amount", U64),
                ("remaining", U64),
                ("reason", STRING_TYPE),
                ("role", U8),
                ("node_name", STRING_TYPE),
            ),
            (GATEWAY, "Gateway"): (
                ("id", UID_TYPE),
                ("tokens", table_type(ID_TYPE, token_entry)),
                ("responses", table_type(U64, response)),
                ("next_request_id", U64),
            ),
            (GATEWAY, "TokenEntry"): (
                ("owner", ADDRESS),
                ("stake_record", ID_TYPE),
                ("expires_at_ms", U64),
                ("revoked", BOOL),
            ),
            (GATEWAY, "SealToken"): (
                ("id", UID_TYPE),
                ("owner", ADDRESS),
                ("stake_record", ID_TYPE),
                ("permissions", strings),
                ("issued_at_ms", U64),
                ("expires_at_ms", U64),
            ),
            (GATEWAY, "K8sResponse"): (
                ("request_id", U64),
                ("status_code", U16),
                ("body_digest", TypeTag.vector(U8)),
                ("body", STRING_TYPE),
                ("enclave_id", ID_TYPE),
                ("signed_at_ms", U64),
                ("signature", byte_vector),
                ("responder", ADDRESS),
                ("stored_at_ms", U64),
            ),
            (GATEWAY, "SealTokenIssued"): (
                ("token_id", ID_TYPE),
                ("owner", ADDRESS),
                ("stake_record", ID_TYPE),
                ("permissions", strings),
                ("expires_at_ms", U64),
            ),
            (GATEWAY, "SealTokenRevoked"): (
                ("token_id", ID_TYPE),
                ("owner", ADDRESS),
                ("revoked_by", ADDRESS),
            ),
            (GATEWAY, "K8sAPIRequest"): (
                ("request_id", U64),
                ("sender", ADDRESS),
                ("method", STRING_TYPE),
                ("path", STRING_TYPE),
                ("payload", STRING_TYPE),
            ),
            (GATEWAY, "K8sResponseStored"): (
                ("request_id", U64),
                ("status_code", U16),
                ("body_digest", TypeTag.vector(U8)),
                ("enclave_id", ID_TYPE),
                ("signed_at_ms", U64),
                ("signature", byte_vector),
            ),
            (ENCLAVE, "EnclaveConfig"): (
                ("id", UID_TYPE),
                ("pcr0", byte_vector),
                ("pcr1", byte_vector),
                ("pcr2", byte_vector),
                ("version", U64),
            ),
            (ENCLAVE, "Enclave"): (
                ("id", UID_TYPE),
                ("public_key", byte_vector),
                ("config_version", U64),
                ("attested_at_ms", U64),
                ("registered_at_ms", U64),
                ("owner", ADDRESS),
            ),
            (ENCLAVE, "PcrsUpdated"): (
                ("version", U64),
                ("pcr0", byte_vector),
                ("pcr1", byte_vector),
                ("pcr2", byte_vector),
            ),
            (ENCLAVE, "EnclaveRegistered"): (
                ("enclave_id", ID_TYPE),
                ("owner", ADDRESS),
                ("public_key", byte_vector),
                ("config_version", U64),
                ("attested_at_ms", U64),
            ),
            (ENCLAVE, "MessageRecorded"): (
                ("enclave_id", ID_TYPE),
                ("sender", ADDRESS),
                ("intent", U8),
                ("timestamp_ms", U64),
                ("payload", byte_vector),
            ),
        }
        return {(pkg, module, name): fields for (module, name), fields in structs.items()}
