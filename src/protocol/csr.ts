/**
 * Certificate signing requests (PKCS#10, RFC 2986) between agent and server: the agent makes its key pair
 * and sends only the request, so its private key never leaves the host; the server checks the request's
 * self-signature (proof that the sender holds the key) and signs a client certificate for the public key.
 * Also the pieces that request and certificate share: distinguished names, signature algorithms, and the
 * URI that names an agent in its certificate (`pgvigil:agent:<id>`).
 *
 * Accepted keys: EC P-256 and P-384, Ed25519, RSA of 2048 bits or more. The agent makes EC P-256 (small,
 * fast, supported by every TLS 1.3 stack). Signatures are node:crypto's; the layout is ./der.ts.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import {
  bitString,
  DerError,
  explicit,
  fromPem,
  integer,
  nullValue,
  oid,
  readChildren,
  readElement,
  readOid,
  sequence,
  set,
  toPem,
  utf8String,
} from './der.js';

/** The URI (subject alternative name) that binds a certificate to an agent. */
export const agentUriPrefix = 'pgvigil:agent:';

export function agentUri(agentId: string): string {
  return `${agentUriPrefix}${agentId}`;
}

const oids = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  rsaSha256: '1.2.840.113549.1.1.11',
  ed25519: '1.3.101.112',
} as const;

/** A distinguished name `O=pgvigil, CN=<commonName>`. */
export function distinguishedName(commonName: string): Buffer {
  return sequence(
    set(sequence(oid(oids.organization), utf8String('pgvigil'))),
    set(sequence(oid(oids.commonName), utf8String(commonName))),
  );
}

/** How `key` signs: the AlgorithmIdentifier to write and the signing function. */
export function signerFor(key: KeyObject): { algorithm: Buffer; sign(data: Buffer): Buffer } {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const p384 = key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
      return {
        algorithm: sequence(oid(p384 ? oids.ecdsaSha384 : oids.ecdsaSha256)),
        sign: (data) => sign(p384 ? 'sha384' : 'sha256', data, { key, dsaEncoding: 'der' }),
      };
    }
    case 'ed25519':
      return { algorithm: sequence(oid(oids.ed25519)), sign: (data) => sign(null, data, key) };
    case 'rsa':
      return {
        algorithm: sequence(oid(oids.rsaSha256), nullValue()),
        sign: (data) => sign('sha256', data, key),
      };
    default:
      throw new DerError(`no signature algorithm for ${key.asymmetricKeyType} keys`);
  }
}

/** Whether `publicKey` is a kind pgvigil accepts in a request; the reason when not. */
export function keyProblem(publicKey: KeyObject): string | undefined {
  const type = publicKey.asymmetricKeyType;
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    return details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1'
      ? undefined
      : `EC curve ${details.namedCurve ?? 'unknown'} is not accepted (use P-256 or P-384)`;
  }
  if (type === 'ed25519') return undefined;
  if (type === 'rsa') {
    return (details.modulusLength ?? 0) >= 2048 ? undefined : 'RSA keys shorter than 2048 bits are refused';
  }
  return `${type ?? 'unknown'} keys are not accepted (use EC P-256, P-384, Ed25519 or RSA ≥ 2048)`;
}

function verifiesWith(algorithm: string, publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  const type = publicKey.asymmetricKeyType;
  if ((algorithm === oids.ecdsaSha256 || algorithm === oids.ecdsaSha384) && type === 'ec') {
    const hash = algorithm === oids.ecdsaSha384 ? 'sha384' : 'sha256';
    return verify(hash, data, { key: publicKey, dsaEncoding: 'der' }, signature);
  }
  if (algorithm === oids.ed25519 && type === 'ed25519') return verify(null, data, publicKey, signature);
  if (algorithm === oids.rsaSha256 && type === 'rsa') return verify('sha256', data, publicKey, signature);
  throw new DerError(`signature algorithm ${algorithm} does not fit a ${type} key or is not accepted`);
}

/** A fresh EC P-256 key pair for an agent's client certificate. */
export function newAgentKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** A PEM certificate request for `publicKey`, signed with `privateKey`, subject `O=pgvigil, CN=…`. */
export function createCsr(privateKey: KeyObject, publicKey: KeyObject, commonName: string): string {
  const signer = signerFor(privateKey);
  const info = sequence(
    integer(0),
    distinguishedName(commonName),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(0, Buffer.alloc(0)),
  );
  const der = sequence(info, signer.algorithm, bitString(signer.sign(info)));
  return toPem('CERTIFICATE REQUEST', der);
}

export class CsrError extends Error {}

/**
 * The public key of a PEM certificate request, once its self-signature is verified. Throws `CsrError`
 * naming what is wrong: not PEM, malformed DER, a refused key kind, or a signature that does not verify.
 * The subject the request asks for is ignored: the server decides what the certificate names.
 */
export function parseCsr(pem: string): { publicKey: KeyObject } {
  try {
    const der = fromPem('CERTIFICATE REQUEST', pem);
    const outer = readElement(der);
    if (outer.tag !== 0x30 || outer.raw.length !== der.length) throw new DerError('not one SEQUENCE');
    const [info, alg, sig, ...rest] = readChildren(outer.content);
    if (!info || !alg || !sig || rest.length > 0 || info.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03)
      throw new DerError('expected request info, algorithm and signature');
    const [version, subject, spki] = readChildren(info.content);
    if (version?.tag !== 0x02 || !version.content.equals(Buffer.from([0])))
      throw new DerError('request version must be 0 (v1)');
    if (subject?.tag !== 0x30 || !spki || spki.tag !== 0x30)
      throw new DerError('expected subject and public key info');
    const algorithm = readOid(
      readChildren(alg.content)[0] ?? { tag: 0, raw: Buffer.alloc(0), content: Buffer.alloc(0) },
    );
    if (sig.content.length < 2 || sig.content[0] !== 0)
      throw new DerError('signature bit string has unused bits');
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
    } catch {
      throw new DerError('the public key info cannot be read');
    }
    const problem = keyProblem(publicKey);
    if (problem) throw new CsrError(problem);
    if (!verifiesWith(algorithm, publicKey, info.raw, sig.content.subarray(1)))
      throw new CsrError('the request signature does not verify with its public key');
    return { publicKey };
  } catch (err) {
    if (err instanceof CsrError) throw err;
    throw new CsrError(`malformed certificate request: ${(err as Error).message}`);
  }
}
