// Generates ../sui-signatures.json with the official Sui TypeScript SDK (@mysten/sui).
//
// The Python signer/verifier in k3s_daas/sui is tested against this file, so the project agrees
// with what every Sui wallet produces. Run from this folder:
//
//   npm ci && npm run generate
//
// Everything here is deterministic (fixed secrets; Ed25519 and RFC 6979 ECDSA signing), so a rerun
// with the same locked SDK reproduces the committed file byte for byte.

import { createHash } from 'node:crypto';

import { bcs } from '@mysten/sui/bcs';
import {
	decodeSuiPrivateKey,
	messageWithIntent,
	parseSerializedSignature,
	toSerializedSignature,
} from '@mysten/sui/cryptography';
import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';
import { Secp256k1Keypair } from '@mysten/sui/keypairs/secp256k1';
import { Secp256r1Keypair } from '@mysten/sui/keypairs/secp256r1';
import { isValidPersonalMessageSignature } from '@mysten/sui/verify';
import { blake2b } from '@noble/hashes/blake2.js';

const SDK_VERSION = JSON.parse(
	await import('node:fs').then((fs) =>
		fs.readFileSync(new URL('./node_modules/@mysten/sui/package.json', import.meta.url)),
	),
).version;

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const sha256 = (text) => new Uint8Array(createHash('sha256').update(text).digest());

// Curve orders, to build the high-S twin of each ECDSA signature (Sui rejects those).
const ORDER = {
	Secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
	Secp256r1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

const SCHEMES = [
	{ name: 'ED25519', flag: 0, Keypair: Ed25519Keypair },
	{ name: 'Secp256k1', flag: 1, Keypair: Secp256k1Keypair },
	{ name: 'Secp256r1', flag: 2, Keypair: Secp256r1Keypair },
];

// Fixed secrets: one with a leading zero byte (must never be stripped), the scalar 1, and a hash.
function secretsFor(scheme) {
	const leadingZero = sha256(`k3s-daas sui vector ${scheme} leading-zero`);
	leadingZero[0] = 0;
	const one = new Uint8Array(32);
	one[31] = 1;
	return [leadingZero, one, sha256(`k3s-daas sui vector ${scheme} 2`)];
}

function patterned(length) {
	const out = new Uint8Array(length);
	for (let i = 0; i < length; i++) out[i] = (i * 7 + 3) % 256;
	return out;
}

const enc = new TextEncoder();
// Lengths 0, 127, 128 and 16384 sit on uleb128 boundaries (1, 1, 2 and 3 length bytes).
const MESSAGES = [
	new Uint8Array(0),
	enc.encode('hello'),
	new Uint8Array([0]),
	new Uint8Array([0, 0, 1, 0]),
	enc.encode('k3s-daas:v1:eyJhbGciOiJub25lIn0.e30'),
	patterned(127),
	patterned(128),
	patterned(300),
	patterned(16383),
	patterned(16384),
];

function digest(message) {
	return blake2b(messageWithIntent('PersonalMessage', bcs.byteVector().serialize(message).toBytes()), {
		dkLen: 32,
	});
}

function highS(serialized, schemeName) {
	const parsed = parseSerializedSignature(serialized);
	const sig = parsed.signature;
	const s = BigInt(`0x${hex(sig.slice(32))}`);
	const flipped = ORDER[schemeName] - s;
	const out = new Uint8Array(64);
	out.set(sig.slice(0, 32));
	out.set(Buffer.from(flipped.toString(16).padStart(64, '0'), 'hex'), 32);
	return out;
}

const keys = [];
for (const scheme of SCHEMES) {
	for (const secret of secretsFor(scheme.name)) {
		const keypair = scheme.Keypair.fromSecretKey(secret);
		const publicKey = keypair.getPublicKey();
		const suiprivkey = keypair.getSecretKey();
		const decoded = decodeSuiPrivateKey(suiprivkey);
		if (hex(decoded.secretKey) !== hex(secret)) throw new Error('suiprivkey round trip failed');

		const signatures = [];
		for (const [index, message] of MESSAGES.entries()) {
			const { signature } = await keypair.signPersonalMessage(message);
			const valid = await isValidPersonalMessageSignature(message, signature, {
				address: keypair.toSuiAddress(),
			});
			if (!valid) throw new Error(`SDK rejected its own signature (${scheme.name}, message ${index})`);
			const entry = { message: index, signature };
			if (scheme.name in ORDER) {
				const twin = toSerializedSignature({
					signature: highS(signature, scheme.name),
					signatureScheme: scheme.name,
					publicKey,
				});
				entry.high_s_signature = twin;
				entry.sdk_accepts_high_s = await isValidPersonalMessageSignature(message, twin);
			}
			signatures.push(entry);
		}
		keys.push({
			scheme: scheme.name,
			flag: scheme.flag,
			secret_hex: hex(secret),
			suiprivkey,
			public_key_hex: hex(publicKey.toRawBytes()),
			public_key_base64: publicKey.toBase64(),
			sui_public_key_base64: publicKey.toSuiPublicKey(),
			address: keypair.toSuiAddress(),
			signatures,
		});
	}
}

const output = {
	generator: 'tests/vectors/sui-sdk/generate.mjs',
	sdk: `@mysten/sui@${SDK_VERSION}`,
	note: 'signature = base64(flag || sig || pubkey); signatures[].message indexes messages',
	messages: MESSAGES.map((message) => ({
		length: message.length,
		hex: hex(message),
		personal_message_digest_hex: hex(digest(message)),
	})),
	keys,
};

process.stdout.write(`${JSON.stringify(output, null, 1)}\n`);
