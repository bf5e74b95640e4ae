/**
 * Where a notification may be sent (the SSRF guard). A channel is a URL an admin types, and the server
 * sends to it from inside the network: pointed at a cloud metadata service, a link-local or loopback
 * address, it would turn pgvigil into a probe of places only the server can reach. So a channel's host is
 * resolved and every address it resolves to must be public, unless the channel was made with
 * `allowPrivate: true` (a receiver on this host or the local network: tests, `pgvigil up`).
 *
 * The check runs when a channel is created or changed, and again before each send (DNS can change).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { PgvigilError } from '../../errors.js';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'reserved';

/** Host names of metadata services, refused by name whatever they resolve to. */
const metadataHosts = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

function ipv4Octets(ip: string): number[] | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  const n = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return n.every((x) => x >= 0 && x <= 255) ? n : undefined;
}

function classifyIpv4([a, b, c, d]: number[]): AddressClass {
  if (a === 169 && b === 254 && c === 169 && d === 254) return 'metadata';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return 'private';
  // shared address space (carrier-grade NAT): inside a provider's network, not the internet
  if (a === 100 && b! >= 64 && b! <= 127) return 'private';
  if (a === 192 && b === 0 && c === 0) return 'reserved';
  if (a === 198 && (b === 18 || b === 19)) return 'reserved';
  if (a! >= 224) return 'reserved'; // multicast, reserved, broadcast
  return 'public';
}

/** The eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail expanded). */
function ipv6Groups(ip: string): number[] | undefined {
  let text = ip.toLowerCase().split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = ipv4Octets(v4[1]!);
    if (!o) return undefined;
    text = `${text.slice(0, v4.index)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) =>
    /^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN,
  );
  return groups.some(Number.isNaN) ? undefined : groups;
}

/** What kind of address `ip` (IPv4 or IPv6 text) is. Anything unreadable is 'reserved'. */
export function classifyAddress(ip: string): AddressClass {
  const v4 = ipv4Octets(ip);
  if (v4) return classifyIpv4(v4);
  const g = ipv6Groups(ip);
  if (!g) return 'reserved';
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const zeroHead = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses reach the IPv4 address.
  if (zeroHead && (g5 === 0xffff || (g5 === 0 && g6 !== 0))) {
    return classifyIpv4([g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff]);
  }
  if (zeroHead && g5 === 0 && g6 === 0) return g7 === 1 ? 'loopback' : 'unspecified';
  // AWS's IPv6 instance metadata endpoint
  if (
    g0 === 0xfd00 &&
    g1 === 0x0ec2 &&
    g2 === 0 &&
    g3 === 0 &&
    g4 === 0 &&
    g5 === 0 &&
    g6 === 0 &&
    g7 === 0x254
  )
    return 'metadata';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xfe00) === 0xfc00) return 'private';
  if ((g0 & 0xff00) === 0xff00) return 'reserved'; // multicast
  if (g0 === 0x2001 && g1 === 0x0db8) return 'reserved'; // documentation
  if (g0 === 0x0064 && g1 === 0xff9b) {
    return classifyIpv4([g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff]); // NAT64 of an IPv4 address
  }
  return 'public';
}

export type Lookup = (host: string) => Promise<string[]>;

/** Every address the system resolver gives for `host`. */
export const systemLookup: Lookup = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export interface DestinationCheck {
  allowPrivate: boolean;
  lookup?: Lookup;
}

/** The refusal message for a host, or undefined when pgvigil may send there. */
export async function refusedDestination(host: string, opts: DestinationCheck): Promise<string | undefined> {
  if (opts.allowPrivate) return undefined;
  const bare = host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (metadataHosts.has(bare)) return `${bare} is a cloud metadata service`;
  const addresses = isIP(bare) ? [bare] : await (opts.lookup ?? systemLookup)(bare);
  for (const ip of addresses) {
    const kind = classifyAddress(ip);
    if (kind !== 'public') {
      return `${bare} ${ip === bare ? 'is' : `resolves to ${ip}, which is`} a ${kind} address; an admin may allow it with allowPrivate: true (needed for a receiver on this host or the local network)`;
    }
  }
  return undefined;
}

/**
 * Refuses (CHANNEL_ADDRESS_REFUSED, 400) a host that is or resolves to a non-public address; a host that
 * does not resolve is CHANNEL_CONFIG_INVALID.
 */
export async function checkDestination(host: string, opts: DestinationCheck): Promise<void> {
  let refusal: string | undefined;
  try {
    refusal = await refusedDestination(host, opts);
  } catch (err) {
    throw new PgvigilError(
      'CHANNEL_CONFIG_INVALID',
      `the channel host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`,
    );
  }
  if (refusal) throw new PgvigilError('CHANNEL_ADDRESS_REFUSED', `refused: ${refusal}`);
}
