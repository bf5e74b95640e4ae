/**
 * The agent certificate authority: a small CA the server runs to give each agent a client certificate
 * bound to its agent id, for the mutual-TLS agent port (./agent-listener.ts).
 *
 * - The CA: an EC P-256 key and a self-signed certificate valid 10 years, made by the first server that
 *   starts with an agent port and kept in the store (`pgvigil.agent_ca`), its key sealed with the server's
 *   secret key (src/secrets.ts, kept outside the store), so every server on the store signs with the same CA
 *   and a dump of the store cannot.
 * - An agent certificate: for the public key of the agent's certificate request (the private key never
 *   leaves the agent), subject `O=pgvigil, CN=pgvigil agent <id>`, the URI `pgvigil:agent:<id>` as its
 *   subject alternative name (what the server reads the agent from), client authentication only, valid
 *   30 days by default from 5 minutes before issue (clock skew). A random 128-bit serial.
 * - Revocation is by agent: the server looks up the agent named in the certificate on each request (cached
 *   like bearer credentials), so revoking the agent refuses all of its certificates at once.
 *
 * Certificates are laid out with src/protocol/der.ts and signed with node:crypto; node:crypto's
 * X509Certificate and the TLS stack check what comes out (test/agent-mtls.test.ts).
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import {
  agentUri,
  agentUriPrefix,
  CsrError,
  distinguishedName,
  parseCsr,
  signerFor,
} from '../../protocol/csr.js';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  integer,
  namedBits,
  octetString,
  oid,
  sequence,
  time,
  toPem,
} from '../../protocol/der.js';
import type { SecretBox } from '../../secrets.js';
import { agentCa, insertAgentCa } from '../../storage/queries/agent-ca.sql.js';

export const defaultAgentCertificateLifetimeMs = 30 * 24 * 3600_000;
const caLifetimeMs = 10 * 365 * 24 * 3600_000;
const skewMs = 5 * 60_000;
const sealContext = 'agent-ca';

const ext = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

/** A key identifier: the first 20 bytes of the SHA-256 of the public key info (RFC 5280 §4.2.1.2 allows any). */
function keyId(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

/** A positive serial of 16 random bytes whose first byte is neither 0 nor ≥ 0x80 (so DER keeps 16 bytes). */
function serialNumber(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b;
}

interface CertificateSpec {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Buffer[];
  signingKey: KeyObject;
}

function buildCertificate(spec: CertificateSpec): string {
  const signer = signerFor(spec.signingKey);
  const tbs = sequence(
    explicit(0, integer(2)),
    integer(spec.serial),
    signer.algorithm,
    spec.issuer,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.spki,
    explicit(3, sequence(...spec.extensions)),
  );
  return toPem('CERTIFICATE', sequence(tbs, signer.algorithm, bitString(signer.sign(tbs))));
}

export interface IssuedCertificate {
  /** PEM. */
  certificate: string;
  /** Hex. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export class AgentCa {
  readonly certificate: X509Certificate;
  readonly #key: KeyObject;
  readonly #keyId: Buffer;
  readonly #name: Buffer;

  constructor(
    readonly certificatePem: string,
    key: KeyObject,
    name: Buffer,
  ) {
    this.certificate = new X509Certificate(certificatePem);
    if (!this.certificate.checkPrivateKey(key)) {
      throw new PgvigilError('SECRET_UNREADABLE', 'the agent CA key does not match its certificate');
    }
    this.#key = key;
    this.#name = name;
    this.#keyId = keyId(this.certificate.publicKey.export({ type: 'spki', format: 'der' }));
  }

  /** A new CA: key pair and self-signed certificate. Returns the private key as PKCS#8 PEM for sealing. */
  static create(now = new Date()): { ca: AgentCa; keyPem: string } {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = distinguishedName(`pgvigil agent CA ${randomBytes(4).toString('hex')}`);
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const id = keyId(spki);
    const pem = buildCertificate({
      serial: serialNumber(),
      issuer: name,
      subject: name,
      notBefore: new Date(now.getTime() - skewMs),
      notAfter: new Date(now.getTime() + caLifetimeMs),
      spki,
      extensions: [
        // CA, and no CA below it.
        extension(ext.basicConstraints, true, sequence(boolean(true), integer(0))),
        extension(ext.keyUsage, true, namedBits([5, 6])), // keyCertSign, cRLSign
        extension(ext.subjectKeyId, false, octetString(id)),
      ],
      signingKey: privateKey,
    });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    return { ca: new AgentCa(pem, privateKey, name), keyPem };
  }

  /** A CA from its stored certificate and PKCS#8 PEM key. */
  static fromPem(certificatePem: string, keyPem: string): AgentCa {
    const cert = new X509Certificate(certificatePem);
    // The issuer of what it signs is its own subject, byte for byte: taken from the certificate itself.
    const cn = /CN=([^\n]+)/.exec(cert.subject)?.[1] ?? 'pgvigil agent CA';
    return new AgentCa(certificatePem, createPrivateKey(keyPem), distinguishedName(cn));
  }

  /**
   * A client certificate for `agentId` over the public key of `csrPem`. Throws CSR_INVALID (400) when the
   * request is malformed, its signature does not verify or its key kind is refused.
   */
  issue(
    agentId: string,
    csrPem: string,
    now = new Date(),
    lifetimeMs = defaultAgentCertificateLifetimeMs,
  ): IssuedCertificate {
    let publicKey: KeyObject;
    try {
      ({ publicKey } = parseCsr(csrPem));
    } catch (err) {
      if (err instanceof CsrError) throw new PgvigilError('CSR_INVALID', err.message);
      throw err;
    }
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const serial = serialNumber();
    const notBefore = new Date(now.getTime() - skewMs);
    // Never past the CA's own end: a chain is only as valid as its shortest link.
    const notAfter = new Date(
      Math.min(now.getTime() + lifetimeMs, new Date(this.certificate.validTo).getTime()),
    );
    const certificate = buildCertificate({
      serial,
      issuer: this.#name,
      subject: distinguishedName(`pgvigil agent ${agentId}`),
      notBefore,
      notAfter,
      spki,
      extensions: [
        extension(ext.basicConstraints, true, sequence()),
        extension(ext.keyUsage, true, namedBits([0])), // digitalSignature
        extension(ext.extKeyUsage, false, sequence(oid(ext.clientAuth))),
        extension(
          ext.subjectAltName,
          false,
          sequence(implicitPrimitive(6, Buffer.from(agentUri(agentId), 'ascii'))),
        ),
        extension(ext.subjectKeyId, false, octetString(keyId(spki))),
        extension(ext.authorityKeyId, false, sequence(implicitPrimitive(0, this.#keyId))),
      ],
      signingKey: this.#key,
    });
    return { certificate, serial: serial.toString('hex'), notBefore, notAfter };
  }
}

/**
 * The store's agent CA, made and stored on the first call when there is none. Two servers starting at once
 * both make one; the store keeps the first and the second reads it back.
 */
export async function loadOrCreateAgentCa(pool: pg.Pool, box: SecretBox): Promise<AgentCa> {
  const stored = await agentCa(pool);
  if (stored) {
    return AgentCa.fromPem(stored.certificate, box.open(stored.keySealed, sealContext).toString('utf8'));
  }
  const { ca, keyPem } = AgentCa.create();
  if (await insertAgentCa(pool, { certificate: ca.certificatePem, keySealed: box.seal(keyPem, sealContext) }))
    return ca;
  return loadOrCreateAgentCa(pool, box);
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The agent id in a peer certificate's subject alternative names (node's `subjectaltname` text, e.g.
 * `URI:pgvigil:agent:<uuid>`); undefined when there is none or more than one.
 */
export function agentIdOfCertificate(subjectAltName: string | undefined): string | undefined {
  if (!subjectAltName) return undefined;
  const ids = subjectAltName
    .split(/,\s*/)
    .filter((n) => n.startsWith(`URI:${agentUriPrefix}`))
    .map((n) => n.slice(`URI:${agentUriPrefix}`.length).toLowerCase());
  return ids.length === 1 && uuidPattern.test(ids[0]!) ? ids[0] : undefined;
}
