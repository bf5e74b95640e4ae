/**
 * The small part of ASN.1 DER that certificates and certificate requests need: an encoder for the fixed
 * shapes pgvigil writes (sequences, sets, integers, object identifiers, strings, times, bit and octet
 * strings, context tags) and a bounds-checked reader for what it parses (a PKCS#10 request from an agent).
 *
 * Guarantees: the encoder writes definite, minimal lengths (DER); the reader never reads past its buffer,
 * accepts only single-byte tags and definite lengths of at most 4 length bytes, and throws `DerError` on
 * anything else. The cryptography (keys, signatures, certificate checks) is node:crypto's; this module
 * only lays out bytes.
 */

export class DerError extends Error {}

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export const sequence = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
export const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const boolean = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
export const octetString = (b: Buffer): Buffer => tlv(0x04, b);
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
/** A bit string of whole bytes (keys, signatures). */
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
/** [n] EXPLICIT: wraps an encoded value. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT primitive (e.g. a URI in a GeneralName is [6]). */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** A named-bit BIT STRING (key usage): bit 0 is the most significant bit of the first byte. */
export function namedBits(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  // DER: trailing zero bits are not encoded; the first byte says how many bits of the last are unused.
  const unused = 7 - (highest % 8);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}

/** A non-negative INTEGER from a small number or big-endian bytes, minimal as DER wants. */
export function integer(value: number | Buffer): Buffer {
  let bytes: Buffer;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new DerError(`integer ${value} out of range`);
    const out: number[] = [];
    for (let v = value; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
    bytes = Buffer.from(out.length === 0 ? [0] : out);
  } else {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    bytes = value.subarray(i);
  }
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  if (parts.length < 2 || parts.some((p) => !Number.isSafeInteger(p) || p < 0)) {
    throw new DerError(`bad object identifier ${dotted}`);
  }
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5), to the second, in UTC. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-12-03T07:08:55.123Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'));
}

export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/** The DER inside one PEM block with this label; throws `DerError` when there is none. */
export function fromPem(label: string, pem: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new DerError(`no "${label}" PEM block`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** One element read from a buffer: its tag, where its content lies, and its whole encoding. */
export interface Element {
  tag: number;
  /** The whole element (tag, length, content): what a signature covers. */
  raw: Buffer;
  content: Buffer;
}

/** Reads the element at `offset`; throws `DerError` on anything that is not a well-formed DER element. */
export function readElement(buf: Buffer, offset = 0): Element {
  if (offset + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized length');
    if (offset + 2 + n > buf.length) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!;
    if (len < 0x80 || buf[offset + 2] === 0) throw new DerError('length not minimally encoded');
    header += n;
  }
  const end = offset + header + len;
  if (end > buf.length) throw new DerError('element longer than its container');
  return { tag, raw: buf.subarray(offset, end), content: buf.subarray(offset + header, end) };
}

/** The elements one after another inside `content` (a sequence's or set's content). */
export function readChildren(content: Buffer): Element[] {
  const out: Element[] = [];
  for (let at = 0; at < content.length; ) {
    const e = readElement(content, at);
    out.push(e);
    at += e.raw.length;
    if (out.length > 1000) throw new DerError('too many elements');
  }
  return out;
}

/** The dotted form of an OBJECT IDENTIFIER element. */
export function readOid(e: Element): string {
  if (e.tag !== 0x06 || e.content.length === 0) throw new DerError('expected an object identifier');
  const b = e.content;
  if (b[0]! & 0x80) throw new DerError('object identifier with a multi-byte first arc');
  const parts: number[] = [Math.min(2, Math.floor(b[0]! / 40)), 0];
  parts[1] = b[0]! - 40 * parts[0]!;
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('object identifier arc too large');
    if (!(b[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  if (b[b.length - 1]! & 0x80) throw new DerError('truncated object identifier');
  return parts.join('.');
}
