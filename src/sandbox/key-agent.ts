// A minimal ssh-agent (draft-miller-ssh-agent) serving private keys from memory, for --ssh ID=KEYFILE: what
// BuildKit does with Go's x/crypto/ssh/agent keyring, so no ssh-agent binary is needed (the executor image has none).
// It lists identities and signs; every other request gets SSH_AGENT_FAILURE. Keys: OpenSSH's own format
// ("BEGIN OPENSSH PRIVATE KEY", ed25519 / RSA / ECDSA P-256, P-384, P-521) and PEM (PKCS#1, PKCS#8, SEC1), unencrypted.
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';

export interface AgentKey {
  /** The public key blob (RFC 4253 encoding) clients ask about. */
  readonly blob: Buffer;
  readonly comment: string;
  readonly kind: 'ed25519' | 'rsa' | 'ecdsa';
  readonly key: KeyObject;
  /** ECDSA: the curve's hash and field size in bytes. */
  readonly hash?: 'sha256' | 'sha384' | 'sha512';
  readonly curve?: string;
}

const SSH_AGENT_FAILURE = 5;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENTC_SIGN_REQUEST = 13;
const SSH_AGENT_SIGN_RESPONSE = 14;
const SSH_AGENT_RSA_SHA2_256 = 2;
const SSH_AGENT_RSA_SHA2_512 = 4;
/** Larger requests are refused (a sign request is a session hash plus a little). */
const maxMessage = 256 * 1024;

const curves: Readonly<Record<string, { crv: string; hash: 'sha256' | 'sha384' | 'sha512'; size: number }>> = {
  nistp256: { crv: 'P-256', hash: 'sha256', size: 32 },
  nistp384: { crv: 'P-384', hash: 'sha384', size: 48 },
  nistp521: { crv: 'P-521', hash: 'sha512', size: 66 },
};
const curveByCrv: Readonly<Record<string, string>> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
function str(data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([u32(b.length), b]);
}
/** Unsigned big-endian bytes → SSH mpint (no leading zeros, a 0 byte when the high bit is set). */
function mpint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b.length > 0 && ((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return str(b);
}

class Reader {
  private pos = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new Error('truncated key data');
    const n = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return n;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.pos + n > this.buf.length) throw new Error('truncated key data');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  text(): string {
    return this.bytes().toString();
  }
  /** An mpint as unsigned big-endian bytes without leading zeros. */
  uint(): Buffer {
    const b = this.bytes();
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  }
}

const b64u = (b: Buffer): string => b.toString('base64url');
const big = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));
function unbig(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}
function pad(b: Buffer, size: number): Buffer {
  return b.length >= size ? b.subarray(b.length - size) : Buffer.concat([Buffer.alloc(size - b.length), b]);
}

function ecdsaKey(curve: string, q: Buffer, d: Buffer | undefined, comment: string, blob?: Buffer): AgentKey {
  const c = curves[curve];
  if (c === undefined) throw new Error(`unsupported ECDSA curve ${curve}`);
  if (q[0] !== 4 || q.length !== 1 + 2 * c.size) throw new Error('unsupported ECDSA point encoding');
  const jwk = { kty: 'EC', crv: c.crv, x: b64u(q.subarray(1, 1 + c.size)), y: b64u(q.subarray(1 + c.size)), ...(d === undefined ? {} : { d: b64u(pad(d, c.size)) }) };
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return { blob: blob ?? Buffer.concat([str(`ecdsa-sha2-${curve}`), str(curve), str(q)]), comment, kind: 'ecdsa', key, hash: c.hash, curve };
}

function rsaKey(n: Buffer, e: Buffer, d: Buffer, iqmp: Buffer, p: Buffer, q: Buffer, comment: string, blob?: Buffer): AgentKey {
  const dd = big(d);
  const jwk = {
    kty: 'RSA', n: b64u(n), e: b64u(e), d: b64u(d), p: b64u(p), q: b64u(q),
    dp: b64u(unbig(dd % (big(p) - 1n))), dq: b64u(unbig(dd % (big(q) - 1n))), qi: b64u(iqmp),
  };
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return { blob: blob ?? Buffer.concat([str('ssh-rsa'), mpint(e), mpint(n)]), comment, kind: 'rsa', key };
}

/** "-----BEGIN OPENSSH PRIVATE KEY-----" → its keys (unencrypted only). */
function parseOpenssh(text: string, file: string): AgentKey[] {
  const body = text.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const raw = Buffer.from(body, 'base64');
  const magic = Buffer.from('openssh-key-v1\0');
  if (!raw.subarray(0, magic.length).equals(magic)) throw new Error('not an OpenSSH private key');
  const r = new Reader(raw.subarray(magic.length));
  const cipher = r.text();
  r.text(); // kdf name
  r.bytes(); // kdf options
  if (cipher !== 'none') {
    throw new Error('the key is passphrase-protected: load it into an ssh-agent and give --ssh ID=SOCKET');
  }
  const count = r.u32();
  const blobs: Buffer[] = [];
  for (let i = 0; i < count; i++) blobs.push(r.bytes());
  const p = new Reader(r.bytes());
  if (p.u32() !== p.u32()) throw new Error('corrupt private key (check bytes differ)');
  const keys: AgentKey[] = [];
  for (let i = 0; i < count; i++) {
    const type = p.text();
    const blob = blobs[i];
    if (type === 'ssh-ed25519') {
      const pub = p.bytes();
      const priv = p.bytes();
      const comment = p.text();
      const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64u(priv.subarray(0, 32)), x: b64u(pub) }, format: 'jwk' });
      keys.push({ blob: blob ?? Buffer.concat([str(type), str(pub)]), comment, kind: 'ed25519', key });
    } else if (type === 'ssh-rsa') {
      const n = p.uint(); const e = p.uint(); const d = p.uint(); const iqmp = p.uint(); const pp = p.uint(); const q = p.uint();
      keys.push(rsaKey(n, e, d, iqmp, pp, q, p.text(), blob));
    } else if (type.startsWith('ecdsa-sha2-')) {
      const curve = p.text();
      const q = p.bytes();
      const d = p.uint();
      keys.push(ecdsaKey(curve, q, d, p.text(), blob));
    } else {
      throw new Error(`unsupported key type ${type} in ${file}`);
    }
  }
  return keys;
}

/** A PEM private key (PKCS#1, PKCS#8, SEC1) → one agent key; the comment is the file name. */
function parsePem(text: string, comment: string): AgentKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch (err) {
    const msg = (err as Error).message;
    if (/passphrase/i.test(msg)) throw new Error('the key is passphrase-protected: load it into an ssh-agent and give --ssh ID=SOCKET');
    throw new Error(`not a private key (${msg})`);
  }
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const bytes = (v: unknown): Buffer => Buffer.from(String(v), 'base64url');
  if (key.asymmetricKeyType === 'ed25519') {
    return { blob: Buffer.concat([str('ssh-ed25519'), str(bytes(jwk.x))]), comment, kind: 'ed25519', key };
  }
  if (key.asymmetricKeyType === 'rsa') {
    return { blob: Buffer.concat([str('ssh-rsa'), mpint(bytes(jwk.e)), mpint(bytes(jwk.n))]), comment, kind: 'rsa', key };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = curveByCrv[String(jwk.crv)];
    const c = curve === undefined ? undefined : curves[curve];
    if (curve === undefined || c === undefined) throw new Error(`unsupported EC curve ${String(jwk.crv)}`);
    const q = Buffer.concat([Buffer.from([4]), pad(bytes(jwk.x), c.size), pad(bytes(jwk.y), c.size)]);
    return { blob: Buffer.concat([str(`ecdsa-sha2-${curve}`), str(curve), str(q)]), comment, kind: 'ecdsa', key, hash: c.hash, curve };
  }
  throw new Error(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** The keys in one private key file's text. */
export function parsePrivateKeys(text: string, file: string): AgentKey[] {
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) return parseOpenssh(text, file);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return [parsePem(text, file)];
  throw new Error('not a private key (expected an OpenSSH or PEM private key file)');
}

function signWith(k: AgentKey, data: Buffer, flags: number): Buffer {
  if (k.kind === 'ed25519') return Buffer.concat([str('ssh-ed25519'), str(sign(null, data, k.key))]);
  if (k.kind === 'rsa') {
    const [algo, hash] = (flags & SSH_AGENT_RSA_SHA2_512) !== 0 ? ['rsa-sha2-512', 'sha512']
      : (flags & SSH_AGENT_RSA_SHA2_256) !== 0 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    return Buffer.concat([str(algo), str(sign(hash, data, k.key))]);
  }
  const sig = sign(k.hash ?? 'sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' });
  const half = sig.length / 2;
  return Buffer.concat([str(`ecdsa-sha2-${k.curve ?? ''}`), str(Buffer.concat([mpint(sig.subarray(0, half)), mpint(sig.subarray(half))]))]);
}

function answer(keys: readonly AgentKey[], msg: Buffer): Buffer {
  const type = msg[0];
  if (type === SSH_AGENTC_REQUEST_IDENTITIES) {
    return Buffer.concat([Buffer.from([SSH_AGENT_IDENTITIES_ANSWER]), u32(keys.length), ...keys.flatMap((k) => [str(k.blob), str(k.comment)])]);
  }
  if (type === SSH_AGENTC_SIGN_REQUEST) {
    try {
      const r = new Reader(msg.subarray(1));
      const blob = r.bytes();
      const data = r.bytes();
      const flags = r.u32();
      const k = keys.find((x) => x.blob.equals(blob));
      if (k !== undefined) return Buffer.concat([Buffer.from([SSH_AGENT_SIGN_RESPONSE]), str(signWith(k, data, flags))]);
    } catch {
      // a malformed request: failure
    }
  }
  return Buffer.from([SSH_AGENT_FAILURE]);
}

/** Serves the agent protocol on one connection. */
export function serveAgent(socket: Socket, keys: readonly AgentKey[]): void {
  let buf = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > maxMessage) { socket.destroy(); return; }
      if (buf.length < 4 + len) break;
      const reply = answer(keys, buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
      socket.write(Buffer.concat([u32(reply.length), reply]));
    }
  });
}
