"""`k3s-daas token | token inspect | kubeconfig | verify-signature` as a user (and kubectl) runs them."""

import base64
import json
import time
from pathlib import Path

import pytest
import yaml

from k3s_daas import cli
from k3s_daas.credential import execcredential, tokencache
from k3s_daas.sealtoken import verify_token
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas.sui.keystore import encode_suiprivkey, write_keystore

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "seal-tokens.json").read_text())
KEYS = [Keypair.generate(scheme) for scheme in SignatureScheme]


@pytest.fixture
def sui_home(tmp_path, monkeypatch):
    """A Sui CLI configuration: a keystore with three keys, the second one active."""
    config = tmp_path / "sui_config"
    write_keystore(config / "sui.keystore", KEYS)
    (config / "client.yaml").write_text(
        f"keystore:\n  File: {config / 'sui.keystore'}\nactive_address: '{KEYS[1].address}'\n"
    )
    monkeypatch.setenv("SUI_CONFIG_DIR", str(config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("KUBERNETES_EXEC_INFO", raising=False)
    return config


def run(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_token_uses_the_active_address_by_default(sui_home, capsys):
    code, out, _ = run(capsys, "token", "--cluster-id", "demo")
    assert code == 0
    credential = json.loads(out)
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1"
    assert credential["kind"] == "ExecCredential"
    verified = verify_token(credential["status"]["token"], audience="demo", now=time.time())
    assert verified.address == KEYS[1].address
    expiry = credential["status"]["expirationTimestamp"]
    assert expiry == execcredential.rfc3339(verified.claims.expires_at - 60)


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_token_answers_the_version_kubectl_asks_for(sui_home, capsys, monkeypatch, version):
    info = {"apiVersion": f"client.authentication.k8s.io/{version}", "kind": "ExecCredential", "spec": {}}
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", json.dumps(info))
    code, out, _ = run(capsys, "token", "--cluster-id", "demo", "--address", KEYS[0].address)
    assert code == 0 and json.loads(out)["apiVersion"] == f"client.authentication.k8s.io/{version}"


def test_token_only_with_an_explicit_keystore_and_seal_token(sui_home, capsys):
    seal = "0x" + "5e" * 32
    code, out, _ = run(
        capsys,
        "token",
        "--cluster-id",
        "demo",
        "--keystore",
        str(sui_home / "sui.keystore"),
        "--address",
        KEYS[2].address,
        "--seal-token",
        seal,
        "--token-only",
        "--lifetime",
        "300",
    )
    assert code == 0
    verified = verify_token(out.strip(), audience="demo", now=time.time())
    assert verified.address == KEYS[2].address and verified.claims.seal_token == seal
    assert verified.claims.expires_at - verified.claims.issued_at == 300


def test_token_from_a_suiprivkey_file(tmp_path, sui_home, capsys):
    key_file = tmp_path / "key"
    key_file.write_text(encode_suiprivkey(KEYS[0]) + "\n")
    code, out, _ = run(capsys, "token", "--cluster-id", "demo", "--suiprivkey-file", str(key_file), "--token-only")
    assert code == 0 and verify_token(out.strip(), audience="demo", now=time.time()).address == KEYS[0].address


def test_cache_reuses_a_fresh_token(sui_home, capsys, tmp_path):
    first = run(capsys, "token", "--cluster-id", "demo", "--cache", "--token-only")[1]
    second = run(capsys, "token", "--cluster-id", "demo", "--cache", "--token-only")[1]
    other_cluster = run(capsys, "token", "--cluster-id", "other", "--cache", "--token-only")[1]
    assert first == second != other_cluster
    files = list((tmp_path / "cache" / "k3s-daas" / "tokens").iterdir())
    assert len(files) == 2 and all(oct(path.stat().st_mode & 0o777) == "0o600" for path in files)
    # A damaged entry is ignored, never an error.
    for path in files:
        path.write_text("garbage")
    assert run(capsys, "token", "--cluster-id", "demo", "--cache", "--token-only")[1] not in ("", first)


def test_cache_refreshes_a_token_near_its_expiry(tmp_path):
    key = KEYS[0]
    from k3s_daas.sealtoken import api_claims, sign

    token = sign(key, api_claims(key.address, "demo", int(time.time()) - 500, 600))
    tokencache.store(tmp_path, "demo", key.address, None, token)
    assert tokencache.load(tmp_path, "demo", key.address, None, time.time()) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token"], "--cluster-id is required"),
        (["token", "--cluster-id", "demo", "--address", "0x" + "9" * 64], "no key for"),
        (["token", "--cluster-id", "demo", "--keystore", "/nonexistent"], "does not exist"),
    ],
)
def test_token_errors_are_one_line(sui_home, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert message in err and err.count("\n") == 1


def test_bad_exec_info_is_an_error(sui_home, capsys, monkeypatch):
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", '{"apiVersion":"client.authentication.k8s.io/v1alpha1"}')
    code, _, err = run(capsys, "token", "--cluster-id", "demo")
    assert code == 1 and "v1alpha1" in err


def test_invalid_cluster_id_is_a_usage_error(sui_home, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["token", "--cluster-id", "Bad:Id"])
    assert caught.value.code == 2


# ---- token inspect --------------------------------------------------------------------------------


def test_inspect_sdk_vectors(capsys):
    for vector in VECTORS["vectors"]:
        argv = ["token", "inspect", vector["token"], "--at", str(VECTORS["now"]), "--cluster-id", VECTORS["cluster_id"]]
        code, out, err = run(capsys, *argv)
        # inspect recognizes a join request by its audience and applies the join rules: valid as one.
        expected = "valid" if "join request presented" in vector["name"] else vector["expect"]
        if expected == "valid":
            assert code == 0, (vector["name"], err)
            report = json.loads(out)
            assert report["signer"]["address"] == report["claims"]["sub"]
            assert report["kind"] == ("join request" if "node" in report["claims"] else "API token")
        else:
            assert code == 1, vector["name"]
            assert f"invalid token: {expected}" in err, (vector["name"], err)
            assert err.count("\n") == 1


def test_inspect_reads_stdin_and_reports_expiry(sui_home, capsys, monkeypatch):
    token = run(capsys, "token", "--cluster-id", "demo", "--token-only")[1].strip()
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    code, out, _ = run(capsys, "token", "inspect", "-")
    report = json.loads(out)
    assert code == 0 and report["signer"]["scheme"] == "Secp256k1" and not report["audienceChecked"]
    assert run(capsys, "token", "inspect", token, "--at", str(time.time() + 3600))[0] == 1


# ---- verify-signature -----------------------------------------------------------------------------


def test_verify_signature(capsys):
    key = KEYS[2]
    message = b"\x00hello"
    signature = key.sign_personal_message(message)
    message_b64 = base64.b64encode(message).decode()
    code, out, _ = run(capsys, "verify-signature", "--message-b64", message_b64, "--signature", signature)
    assert (code, out) == (0, f"{key.address} Secp256r1\n")
    assert (
        run(
            capsys, "verify-signature", "--message-b64", message_b64, "--signature", signature, "--address", key.address
        )[0]
        == 0
    )
    for argv, fragment in [
        (["--message-b64", message_b64, "--signature", signature, "--address", KEYS[0].address], "expected"),
        (["--message-b64", "AAAA", "--signature", signature], "does not verify"),
        (["--message-b64", "not base64!", "--signature", signature], "base64"),
        (["--message-b64", message_b64, "--signature", "AAAA"], "serialized signature"),
        (["--message-b64", message_b64, "--signature", signature, "--address", "0xzz"], "--address"),
    ]:
        code, out, err = run(capsys, "verify-signature", *argv)
        assert code == 1 and out == "" and fragment in err and err.count("\n") == 1


# ---- kubeconfig -----------------------------------------------------------------------------------


def test_kubeconfig_runs_the_plugin_with_the_key_flags(sui_home, capsys, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    output = tmp_path / "kubeconfig"
    keystore = sui_home / "sui.keystore"
    code, _, err = run(
        capsys,
        "kubeconfig",
        "--server",
        "https://127.0.0.1:6443",
        "--ca",
        str(ca),
        "--cluster-id",
        "demo",
        "--keystore",
        str(keystore),
        "--address",
        KEYS[0].address,
        "--output",
        str(output),
    )
    assert code == 0 and KEYS[0].address in err
    assert oct(output.stat().st_mode & 0o777) == "0o600"
    document = yaml.safe_load(output.read_text())
    user = document["users"][0]["user"]["exec"]
    assert user["apiVersion"] == "client.authentication.k8s.io/v1" and user["interactiveMode"] == "Never"
    assert user["command"] == "k3s-daas"
    assert user["args"] == ["token", "--cluster-id", "demo", "--keystore", str(keystore), "--address", KEYS[0].address]
    assert document["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"]) == ca.read_bytes()


def test_kubeconfig_refuses_a_key_it_cannot_load(sui_home, capsys, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    code, _, err = run(
        capsys,
        "kubeconfig",
        "--server",
        "https://x:6443",
        "--ca",
        str(ca),
        "--cluster-id",
        "demo",
        "--keystore",
        str(tmp_path / "missing"),
    )
    assert code == 1 and "does not exist" in err
