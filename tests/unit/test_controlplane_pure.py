"""Pure parts of the control plane: certificates, flags, the build key."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k3s_daas.controlplane import pki
from k3s_daas.controlplane.binaries import (
    GO_MODULE_DIR,
    PrerequisiteMissing,
    build_key,
    ensure_binaries,
    pinned_kube_version,
    version_ldflags,
)
from k3s_daas.controlplane.cluster import Layout, apiserver_args
from k3s_daas.settings import ControlPlaneSettings


def _verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(ca)


def test_serving_certificate_covers_loopback_and_service_names() -> None:
    ca = pki.new_ca()
    serving = x509.load_pem_x509_certificate(pki.serving_certificate(ca).cert_pem)
    _verify_signed_by(serving, x509.load_pem_x509_certificate(ca.cert_pem))
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.IPv4Address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    usages = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages and ExtendedKeyUsageOID.CLIENT_AUTH not in usages


def test_admin_client_certificate_is_in_system_masters() -> None:
    ca = pki.new_ca()
    admin = x509.load_pem_x509_certificate(pki.issue(ca, "admin", organization="system:masters", client=True).cert_pem)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    usages = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_apiserver_flags_bind_loopback_and_pass_extras_last() -> None:
    args = apiserver_args(
        Path("kube-apiserver"), Layout(Path("/s")), 1, 2, ("--authentication-token-webhook-version=v1",)
    )
    assert "--bind-address=127.0.0.1" in args
    assert "--anonymous-auth=false" in args and "--authorization-mode=Node,RBAC" in args
    assert args[-1] == "--authentication-token-webhook-version=v1"


def test_version_is_stamped_into_the_binaries() -> None:
    version = pinned_kube_version()
    assert version.startswith("v1.")
    flags = version_ldflags(version)
    assert f"k8s.io/component-base/version.gitVersion={version}" in flags
    assert f"k8s.io/client-go/pkg/version.gitVersion={version}" in flags


def test_build_key_changes_with_the_pin_and_the_toolchain(tmp_path: Path) -> None:
    copy = tmp_path / "gobuild"
    shutil.copytree(GO_MODULE_DIR, copy)
    key = build_key(copy, "go1.26.8")
    assert build_key(copy, "go1.26.8") == key
    assert build_key(copy, "go1.27.0") != key
    go_mod = copy / "go.mod"
    go_mod.write_text(go_mod.read_text().replace("k8s.io/kubernetes v1.", "k8s.io/kubernetes v9."))
    assert build_key(copy, "go1.26.8") != key


def test_a_missing_go_toolchain_is_a_missing_prerequisite(tmp_path: Path) -> None:
    settings = ControlPlaneSettings(cache_dir=tmp_path, go_binary="no-such-go")
    with pytest.raises(PrerequisiteMissing, match="Go toolchain 'no-such-go' not found"):
        ensure_binaries(settings, lambda _message: None)


def test_a_too_old_go_toolchain_is_a_missing_prerequisite(tmp_path: Path) -> None:
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho go1.19.8\n")
    fake_go.chmod(0o755)
    settings = ControlPlaneSettings(cache_dir=tmp_path, go_binary=str(fake_go))
    with pytest.raises(PrerequisiteMissing, match=r"go1\.19\.8, the Kubernetes v1\.\d+\.\d+ modules need go >= 1\.25"):
        ensure_binaries(settings, lambda _message: None)
