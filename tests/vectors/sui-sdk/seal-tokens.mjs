// Generates ../seal-tokens.json: Seal tokens built and signed with the official Sui TypeScript SDK
// (@mysten/sui), exactly as docs/seal-token.md tells a wallet user to build them, plus broken ones,
// each with the rejection reason the Python verifier (k3s_daas/sealtoken) must give.
//
// Nothing here imports project code: if these tokens verify in Python, a third party with only the
// documentation and a wallet can produce valid tokens. Run from this folder:
//
//   npm ci && npm run generate-seal-tokens
//
// Deterministic (fixed secrets, fixed jti, Ed25519 and RFC 6979 ECDSA), so a rerun with the same
// locked SDK reproduces the committed file byte for byte.

import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { parseSerializedSignature, toSerializedSignature } from '@mysten/sui/cryptography';
import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';
import { Secp256k1Keypair } from '@mysten/sui/keypairs/secp256k1';
import { Secp256r1Keypair } from '@mysten/sui/keypairs/secp256r1';
import { verifyPersonalMessageSignature } from '@mysten/sui/verify';

const SDK_VERSION = JSON.parse(
	readFileSync(new URL('./node_modules/@mysten/sui/package.json', import.meta.url)),
).version;

// ---- the format, as docs/seal-token.md states it ------------------------------------------------
const PREFIX = 'k3s-daas-v1.';
const HEADER = { alg: 'SuiPersonalMessage', typ: 'JWT' };
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const json = (value) => Buffer.from(JSON.stringify(value), 'utf8');
const utf8 = (text) => new TextEncoder().encode(text);

// The signed message: PREFIX + base64url(header JSON) + "." + base64url(payload JSON), as UTF-8.
function messageFor(headerBytes, payloadBytes) {
	return `${PREFIX}${b64url(headerBytes)}.${b64url(payloadBytes)}`;
}

// signPersonalMessage returns the serialized signature in standard base64; the token carries it
// in base64url without padding.
const signatureSegment = (serializedBase64) => Buffer.from(serializedBase64, 'base64').toString('base64url');

async function token(keypair, claims, { header = HEADER, headerBytes, payloadBytes } = {}) {
	const h = headerBytes ?? json(header);
	const p = payloadBytes ?? json(claims);
	const message = messageFor(h, p);
	const { signature } = await keypair.signPersonalMessage(utf8(message));
	// The SDK's own verifier must accept what it signed, for the address it claims.
	await verifyPersonalMessageSignature(utf8(message), signature, { address: keypair.toSuiAddress() });
	return { token: `${message}.${signatureSegment(signature)}`, message, signature };
}

// ---- fixed inputs -------------------------------------------------------------------------------
const NOW = 1767225600; // 2026-01-01T00:00:00Z: verify every vector "at" this time.
const CLUSTER = 'k3s-daas-vectors';
const SEAL_TOKEN_OBJECT = `0x${'5e'.repeat(32)}`;
const sha256 = (text) => new Uint8Array(createHash('sha256').update(text).digest());

const SCHEMES = [
	{ name: 'ED25519', flag: 0, Keypair: Ed25519Keypair },
	{ name: 'Secp256k1', flag: 1, Keypair: Secp256k1Keypair },
	{ name: 'Secp256r1', flag: 2, Keypair: Secp256r1Keypair },
];
const ORDER = {
	Secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
	Secp256r1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

const keys = SCHEMES.map((scheme) => {
	const secret = sha256(`k3s-daas seal token vector ${scheme.name}`);
	const keypair = scheme.Keypair.fromSecretKey(secret);
	return { scheme, keypair, secret, address: keypair.toSuiAddress() };
});

const apiClaims = (address, extra = {}) => ({
	sub: address,
	aud: CLUSTER,
	iat: NOW - 60,
	exp: NOW + 540,
	jti: 'vector-jti-0001',
	...extra,
});

const vectors = [];
const add = (name, built, expect, extra = {}) =>
	vectors.push({ name, token: built.token ?? built, expect, profile: 'api', audience: CLUSTER, ...extra });

for (const { scheme, keypair, address } of keys) {
	const tag = scheme.name.toLowerCase();
	add(`${tag}: valid API token`, await token(keypair, apiClaims(address)), 'valid', {
		signed_message: messageFor(json(HEADER), json(apiClaims(address))),
	});
	add(
		`${tag}: valid API token naming its SealToken object`,
		await token(keypair, apiClaims(address, { seal_token: SEAL_TOKEN_OBJECT })),
		'valid',
	);
	add(
		`${tag}: valid join request`,
		await token(keypair, {
			sub: address,
			aud: `${CLUSTER}:join`,
			iat: NOW - 10,
			exp: NOW + 110,
			jti: 'vector-join-0001',
			node: 'worker-1',
		}),
		'valid',
		{ profile: 'join', audience: `${CLUSTER}:join` },
	);
	// Time, audience and lifetime failures: perfectly signed, wrong claims.
	add(`${tag}: expired`, await token(keypair, apiClaims(address, { iat: NOW - 4000, exp: NOW - 3400 })), 'expired');
	add(`${tag}: issued in the future`, await token(keypair, apiClaims(address, { iat: NOW + 3600, exp: NOW + 4000 })), 'not_yet_valid');
	add(`${tag}: nbf in the future`, await token(keypair, apiClaims(address, { nbf: NOW + 600, exp: NOW + 840 })), 'not_yet_valid');
	add(`${tag}: another cluster`, await token(keypair, apiClaims(address, { aud: 'other-cluster' })), 'wrong_audience');
	add(`${tag}: lives a day`, await token(keypair, apiClaims(address, { exp: NOW + 86400 })), 'lifetime_too_long');
	add(
		`${tag}: join request presented as an API token`,
		await token(keypair, { sub: address, aud: `${CLUSTER}:join`, iat: NOW, exp: NOW + 60, jti: 'vector-join-0002', node: 'worker-1' }),
		'wrong_audience',
	);
	// Signature failures.
	const good = await token(keypair, apiClaims(address));
	const tampered = json(apiClaims(address, { exp: NOW + 600 }));
	add(
		`${tag}: payload changed after signing`,
		`${messageFor(json(HEADER), tampered)}.${good.token.split('.').pop()}`,
		'bad_signature',
	);
	const unprefixed = `${b64url(json(HEADER))}.${b64url(json(apiClaims(address)))}`;
	const { signature: unprefixedSignature } = await keypair.signPersonalMessage(utf8(unprefixed));
	add(
		`${tag}: signed without the prefix`,
		`${PREFIX}${unprefixed}.${signatureSegment(unprefixedSignature)}`,
		'bad_signature',
	);
	if (scheme.name in ORDER) {
		const parsed = parseSerializedSignature(good.signature);
		const s = BigInt(`0x${Buffer.from(parsed.signature.slice(32)).toString('hex')}`);
		const flipped = new Uint8Array(64);
		flipped.set(parsed.signature.slice(0, 32));
		flipped.set(Buffer.from((ORDER[scheme.name] - s).toString(16).padStart(64, '0'), 'hex'), 32);
		const highS = toSerializedSignature({ signature: flipped, signatureScheme: scheme.name, publicKey: keypair.getPublicKey() });
		add(`${tag}: high-S twin of a valid signature`, `${good.message}.${signatureSegment(highS)}`, 'bad_signature');
	}
	// HMAC keyed with the signer's public key: the classic algorithm-confusion attack.
	const hsHeader = json({ alg: 'HS256', typ: 'JWT' });
	const hsInput = `${b64url(hsHeader)}.${b64url(json(apiClaims(address)))}`;
	const mac = createHmac('sha256', keypair.getPublicKey().toSuiBytes()).update(`${PREFIX}${hsInput}`).digest();
	add(`${tag}: HS256 keyed with the public key`, `${PREFIX}${hsInput}.${b64url(mac)}`, 'forbidden_algorithm');
}

const [ed, k1] = keys;
// Signed by one key, claiming another's address.
add('sub is another address', await token(ed.keypair, apiClaims(k1.address)), 'address_mismatch');
add('alg none, empty signature', `${PREFIX}${b64url(json({ alg: 'none' }))}.${b64url(json(apiClaims(ed.address)))}.`, 'forbidden_algorithm');
add('alg ES256K', (await token(k1.keypair, apiClaims(k1.address), { header: { alg: 'ES256K', typ: 'JWT' } })).token, 'unknown_algorithm');
add('alg EdDSA', (await token(ed.keypair, apiClaims(ed.address), { header: { alg: 'EdDSA', typ: 'JWT' } })).token, 'unknown_algorithm');
add('extra header field kid', (await token(ed.keypair, apiClaims(ed.address), { header: { ...HEADER, kid: 'x' } })).token, 'malformed');
add('bare JWS without the prefix', good_without_prefix(await token(ed.keypair, apiClaims(ed.address))), 'wrong_prefix');
add('next version prefix', (await token(ed.keypair, apiClaims(ed.address))).token.replace(PREFIX, 'k3s-daas-v2.'), 'wrong_prefix');
add('unknown claim role', await token(ed.keypair, apiClaims(ed.address, { role: 'admin' })), 'invalid_claims');
add('short address in sub', await token(ed.keypair, apiClaims(ed.address, { sub: '0x2' })), 'invalid_claims');
add('iat as a string', await token(ed.keypair, apiClaims(ed.address, { iat: String(NOW) })), 'invalid_claims');
add('aud as a list', await token(ed.keypair, apiClaims(ed.address, { aud: [CLUSTER] })), 'wrong_audience');
add('exp missing', await token(ed.keypair, { sub: ed.address, aud: CLUSTER, iat: NOW }), 'invalid_claims');
add(
	'duplicate sub key',
	await token(ed.keypair, null, {
		payloadBytes: utf8(`{"sub":"${k1.address}","sub":"${ed.address}","aud":"${CLUSTER}","iat":${NOW},"exp":${NOW + 60}}`),
	}),
	'malformed',
);
add('payload not JSON', await token(ed.keypair, null, { payloadBytes: utf8('not json') }), 'malformed');
add('payload a JSON array', await token(ed.keypair, null, { payloadBytes: json([1, 2]) }), 'malformed');
add('signature with base64 padding', `${(await token(ed.keypair, apiClaims(ed.address))).token}==`, 'malformed');
add('four segments', `${(await token(ed.keypair, apiClaims(ed.address))).token}.AAAA`, 'malformed');
add(
	'over 4 KiB',
	await token(ed.keypair, apiClaims(ed.address, { jti: 'x'.repeat(4096) })),
	'oversized',
);
add('empty', '', 'wrong_prefix');

function good_without_prefix(built) {
	return built.token.slice(PREFIX.length);
}

const output = {
	generator: 'tests/vectors/sui-sdk/seal-tokens.mjs',
	sdk: `@mysten/sui@${SDK_VERSION}`,
	note: 'verify each token at `now` with its profile and audience; expect "valid" or the rejection reason',
	now: NOW,
	cluster_id: CLUSTER,
	keys: keys.map(({ scheme, secret, address, keypair }) => ({
		scheme: scheme.name,
		flag: scheme.flag,
		secret_hex: Buffer.from(secret).toString('hex'),
		suiprivkey: keypair.getSecretKey(),
		address,
	})),
	vectors,
};

process.stdout.write(`${JSON.stringify(output, null, 1)}\n`);
