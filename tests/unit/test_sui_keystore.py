"""Sui CLI keystore, client.yaml and suiprivkey handling; no error may carry key material."""

import base64
import json
import stat
from pathlib import Path

import pytest

from k3s_daas.errors import UserError
from k3s_daas.sui import Keypair, SignatureScheme, bech32
from k3s_daas.sui.keystore import (
    KeystoreError,
    active_address,
    client_keystore_path,
    encode_suiprivkey,
    load_key,
    load_keystore,
    parse_suiprivkey,
    select_key,
    sui_config_dir,
    write_keystore,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "sui-signatures.json").read_text())
KEYS = VECTORS["keys"]


def _entry(vector: dict) -> str:
    return base64.b64encode(bytes([vector["flag"]]) + bytes.fromhex(vector["secret_hex"])).decode()


def _write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def _client_yaml(path: Path, keystore: Path | None = None, active: str | None = None) -> Path:
    lines = ["---"]
    if keystore is not None:
        lines += ["keystore:", f"  File: {keystore}"]
    lines += ["envs:", "  - alias: localnet", '    rpc: "http://127.0.0.1:9000"', "active_env: localnet"]
    lines.append(f'active_address: "{active}"' if active is not None else "active_address: ~")
    path.write_text("\n".join(lines) + "\n")
    return path


def _assert_no_secret(error: pytest.ExceptionInfo[BaseException], *secrets: str) -> None:
    message = str(error.value)
    for secret in secrets:
        assert secret not in message


@pytest.mark.parametrize("vector", KEYS, ids=lambda key: f"{key['scheme']}-{key['address'][:8]}")
def test_suiprivkey_matches_sdk(vector):
    key = parse_suiprivkey(vector["suiprivkey"])
    assert key.address == vector["address"]
    assert key.secret_bytes().hex() == vector["secret_hex"]
    assert encode_suiprivkey(key) == vector["suiprivkey"]


@pytest.mark.parametrize("scheme", list(SignatureScheme), ids=str)
def test_suiprivkey_round_trip(scheme):
    key = Keypair.generate(scheme)
    text = encode_suiprivkey(key)
    assert text.startswith("suiprivkey1")
    assert parse_suiprivkey(text) == key
    assert parse_suiprivkey(f"  {text.upper()}\n") == key


def test_suiprivkey_bad_checksum_does_not_echo_the_key():
    text = KEYS[0]["suiprivkey"]
    position = len(text) // 2
    replacement = "q" if text[position] != "q" else "p"
    broken = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(KeystoreError, match="checksum") as error:
        parse_suiprivkey(broken)
    _assert_no_secret(error, broken, text[11:40], KEYS[0]["secret_hex"])


def test_suiprivkey_rejects_bech32m():
    payload = bytes([0]) + bytes.fromhex(KEYS[0]["secret_hex"])
    words = bech32._convert_bits(payload, 8, 5, pad=True)
    polymod = bech32._polymod([*bech32._hrp_expand("suiprivkey"), *words, 0, 0, 0, 0, 0, 0]) ^ 0x2BC830A3
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    text = "suiprivkey1" + "".join(bech32._CHARSET[word] for word in words + checksum)
    with pytest.raises(KeystoreError, match="checksum"):
        parse_suiprivkey(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no human-readable part"),
        ("suiprivkey1", "too short"),
        ("suiprivkey1qqqqq", "too short"),
        ("SuiPrivKey1" + "q" * 60, "mixes upper and lower case"),
        ("suiprivkey1" + "b" * 60, "outside the bech32 alphabet"),
        ("suiprivkey1" + "q" * 90, "more than 90"),
        ("suiprivkey1 qq", "space"),
    ],
)
def test_suiprivkey_malformed(text, reason):
    with pytest.raises(KeystoreError, match=reason):
        parse_suiprivkey(text)


def test_suiprivkey_wrong_prefix():
    payload = bytes([0]) + bytes(32)
    with pytest.raises(KeystoreError, match="expected the prefix suiprivkey1, got suipubkey1"):
        parse_suiprivkey(bech32.encode("suipubkey", payload))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes([0]) + bytes(31), "expected 33 bytes"),
        (bytes([0]) + bytes(33), "expected 33 bytes"),
        (bytes([0]) + bytes(40), "expected 33 bytes"),
        (bytes([3]) + bytes(32), "flag 3 is not"),
        (bytes([1]) + bytes(32), "not a valid scalar"),
    ],
    ids=["short", "long", "longer", "flag", "scalar"],
)
def test_suiprivkey_bad_payload(payload, reason):
    with pytest.raises(KeystoreError, match=reason):
        parse_suiprivkey(bech32.encode("suiprivkey", payload))


def test_bech32_known_vector():
    # BIP 173's valid test string.
    assert bech32.decode("A12UEL5L") == ("a", b"")
    assert bech32.encode("a", b"") == "a12uel5l"


def test_load_keystore_in_sui_cli_format(tmp_path):
    path = _write_json(tmp_path / "sui.keystore", [_entry(vector) for vector in KEYS])
    keys = load_keystore(path)
    assert [key.address for key in keys] == [vector["address"] for vector in KEYS]


def test_write_keystore_round_trip_and_mode(tmp_path):
    keys = [Keypair.generate(scheme) for scheme in SignatureScheme]
    path = tmp_path / "sui_config" / "sui.keystore"
    write_keystore(path, keys)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keystore(path) == keys
    entries = json.loads(path.read_text())
    assert [base64.b64decode(entry)[0] for entry in entries] == [0, 1, 2]
    assert all(len(base64.b64decode(entry)) == 33 for entry in entries)
    assert [path.name] == [child.name for child in path.parent.iterdir()]


def test_write_keystore_tightens_an_existing_file(tmp_path):
    path = tmp_path / "sui.keystore"
    path.write_text("[]")
    path.chmod(0o644)
    write_keystore(path, [Keypair.generate(SignatureScheme.ED25519)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(load_keystore(path)) == 1


def test_empty_keystore(tmp_path):
    path = tmp_path / "sui.keystore"
    write_keystore(path, [])
    assert load_keystore(path) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "not valid JSON"),
        ("[", "not valid JSON"),
        ('{"keys": []}', "must be a JSON array"),
        ('"AAAA"', "must be a JSON array"),
    ],
)
def test_malformed_keystore_file(tmp_path, content, reason):
    path = tmp_path / "sui.keystore"
    path.write_text(content)
    with pytest.raises(KeystoreError, match=reason) as error:
        load_keystore(path)
    assert str(path) in str(error.value)


def test_keystore_json_error_does_not_quote_the_file(tmp_path):
    secret_entry = _entry(KEYS[0])
    path = tmp_path / "sui.keystore"
    path.write_text(f'["{secret_entry}",]')
    with pytest.raises(KeystoreError, match="not valid JSON") as error:
        load_keystore(path)
    _assert_no_secret(error, secret_entry, secret_entry[:12])


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (42, "expected a base64 string, got int"),
        (None, "expected a base64 string, got NoneType"),
        ("not base64!", "not valid base64"),
        (base64.b64encode(bytes(10)).decode(), "expected 33 bytes"),
        (base64.b64encode(bytes(65)).decode(), "pre-2023 key format"),
        (base64.b64encode(bytes([5]) + bytes(32)).decode(), "flag 5 is not"),
        (base64.b64encode(bytes([2]) + bytes(32)).decode(), "not a valid scalar"),
    ],
)
def test_malformed_keystore_entry_names_file_and_index(tmp_path, entry, reason):
    good = _entry(KEYS[0])
    path = _write_json(tmp_path / "sui.keystore", [good, entry])
    with pytest.raises(KeystoreError, match=reason) as error:
        load_keystore(path)
    assert f"keystore {path}: entry 1:" in str(error.value)
    secrets = [good, KEYS[0]["secret_hex"]]
    if isinstance(entry, str):
        secrets.append(entry)
    _assert_no_secret(error, *secrets)


def test_missing_keystore(tmp_path):
    with pytest.raises(KeystoreError, match="does not exist"):
        load_keystore(tmp_path / "nope.keystore")


def test_keystore_that_is_not_utf8(tmp_path):
    path = tmp_path / "sui.keystore"
    path.write_bytes(b"\xff\xfe[]")
    with pytest.raises(KeystoreError, match="not UTF-8"):
        load_keystore(path)


def test_select_key():
    keys = [Keypair.generate(scheme) for scheme in SignatureScheme]
    assert select_key(keys, keys[1].address) is keys[1]
    assert select_key(keys, keys[2].address.upper().replace("0X", "0x")) is keys[2]


def test_select_key_absent_lists_addresses_only():
    keys = [Keypair.generate(scheme) for scheme in SignatureScheme]
    with pytest.raises(KeystoreError, match=r"no key for 0x0{63}1 in the keystore") as error:
        select_key(keys, "0x1")
    for key in keys:
        assert key.address in str(error.value)
    _assert_no_secret(error, *(key.secret_bytes().hex() for key in keys))


def test_select_key_empty_and_bad_address():
    with pytest.raises(KeystoreError, match="keystore is empty"):
        select_key([], "0x1")
    with pytest.raises(KeystoreError, match="start with 0x"):
        select_key([], "zz")


def test_active_address(tmp_path):
    address = KEYS[0]["address"]
    assert active_address(_client_yaml(tmp_path / "client.yaml", active=address.upper().replace("0X", "0x"))) == address


def test_active_address_unquoted_is_read_as_a_number_by_yaml(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text("active_address: 0x00000000000000000000000000000000000000000000000000000000000000ab\n")
    assert active_address(path) == "0x" + "0" * 62 + "ab"


def test_active_address_absent(tmp_path):
    assert active_address(tmp_path / "missing.yaml") is None
    assert active_address(_client_yaml(tmp_path / "client.yaml")) is None
    (tmp_path / "empty.yaml").write_text("")
    assert active_address(tmp_path / "empty.yaml") is None
    (tmp_path / "other.yaml").write_text("active_env: localnet\n")
    assert active_address(tmp_path / "other.yaml") is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("active_address: [1, 2\n", "not valid YAML at line"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("active_address: [1]\n", "must be a string"),
        ("active_address: true\n", "must be a string"),
        ('active_address: "0xzz"\n', "only hex digits"),
    ],
)
def test_active_address_malformed(tmp_path, content, reason):
    path = tmp_path / "client.yaml"
    path.write_text(content)
    with pytest.raises(KeystoreError, match=reason) as error:
        active_address(path)
    assert str(path) in str(error.value)


def test_client_keystore_path(tmp_path):
    keystore = tmp_path / "sui.keystore"
    assert client_keystore_path(_client_yaml(tmp_path / "client.yaml", keystore=keystore)) == keystore
    assert client_keystore_path(_client_yaml(tmp_path / "bare.yaml")) is None
    assert client_keystore_path(tmp_path / "missing.yaml") is None
    (tmp_path / "relative.yaml").write_text("keystore:\n  File: keys/sui.keystore\n")
    assert client_keystore_path(tmp_path / "relative.yaml") == tmp_path / "keys" / "sui.keystore"


def test_sui_config_dir():
    assert sui_config_dir({"SUI_CONFIG_DIR": "/etc/sui"}) == Path("/etc/sui")
    assert sui_config_dir({}) == Path.home() / ".sui" / "sui_config"


@pytest.fixture
def three_keys(tmp_path):
    keys = [Keypair.generate(scheme) for scheme in SignatureScheme]
    path = tmp_path / "sui.keystore"
    write_keystore(path, keys)
    return path, keys


def test_load_key_suiprivkey_wins(tmp_path, three_keys):
    path, keys = three_keys
    explicit = Keypair.generate(SignatureScheme.ED25519)
    client = _client_yaml(tmp_path / "client.yaml", keystore=path, active=keys[0].address)
    assert load_key(path, None, encode_suiprivkey(explicit), client) == explicit
    assert load_key(None, explicit.address, encode_suiprivkey(explicit), None) == explicit


def test_load_key_suiprivkey_address_mismatch():
    explicit = Keypair.generate(SignatureScheme.SECP256K1)
    other = Keypair.generate(SignatureScheme.SECP256K1)
    with pytest.raises(KeystoreError, match=f"key of {explicit.address}, not of {other.address}"):
        load_key(None, other.address, encode_suiprivkey(explicit), None)
    with pytest.raises(KeystoreError, match="--address"):
        load_key(None, "nope", encode_suiprivkey(explicit), None)


def test_load_key_keystore_and_address(three_keys):
    path, keys = three_keys
    assert load_key(path, keys[2].address, None, None) == keys[2]


def test_load_key_active_address_from_client_yaml(tmp_path, three_keys):
    path, keys = three_keys
    client = _client_yaml(tmp_path / "client.yaml", keystore=path, active=keys[1].address)
    assert load_key(path, None, None, client) == keys[1]
    # The keystore named in client.yaml is used when none is given.
    assert load_key(None, None, None, client) == keys[1]
    # An explicit address beats the active one.
    assert load_key(None, keys[0].address, None, client) == keys[0]


def test_load_key_active_address_not_in_keystore(tmp_path, three_keys):
    path, _ = three_keys
    stranger = Keypair.generate(SignatureScheme.ED25519)
    client = _client_yaml(tmp_path / "client.yaml", active=stranger.address)
    with pytest.raises(KeystoreError, match=f"active_address in {client}.*no key for {stranger.address}"):
        load_key(path, None, None, client)


def test_load_key_single_key_needs_no_address(tmp_path):
    key = Keypair.generate(SignatureScheme.SECP256R1)
    path = tmp_path / "sui.keystore"
    write_keystore(path, [key])
    assert load_key(path, None, None, None) == key


def test_load_key_needs_a_choice_among_several(three_keys):
    path, _ = three_keys
    with pytest.raises(KeystoreError, match="holds 3 keys and no address was chosen"):
        load_key(path, None, None, None)


def test_load_key_without_any_source(tmp_path):
    with pytest.raises(KeystoreError, match="no Sui key"):
        load_key(None, None, None, None)
    client = _client_yaml(tmp_path / "client.yaml")
    with pytest.raises(KeystoreError, match=f"no keystore named in {client}"):
        load_key(None, None, None, client)


def test_keystore_error_is_a_user_error():
    assert issubclass(KeystoreError, UserError)
