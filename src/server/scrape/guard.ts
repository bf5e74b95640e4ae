/**
 * The SSRF rules of server-side scrapes. The server scrapes URLs an admin typed, from inside the network;
 * these rules keep it from being pointed at the places only it can reach that matter most: the cloud
 * metadata services (credentials) and link-local addresses. Loopback and private addresses stay allowed:
 * applications on the server's own host and network are what it scrapes.
 *
 * Refused, by the address actually used (src/scrape/http.ts checks every resolved address, the connected
 * socket and each redirect hop):
 * - `cloud-metadata`: 169.254.169.254, fd00:ec2::254 (AWS IPv6), 100.100.100.200 (Alibaba);
 * - `link-local`: 169.254.0.0/16, fe80::/10;
 * - the IPv4-mapped, IPv4-compatible and NAT64 forms of those (::ffff:169.254.169.254, ::ffff:a9fe:a9fe,
 *   ::169.254.169.254, 64:ff9b::a9fe:a9fe), read as the IPv4 address they reach;
 * - `unspecified`: 0.0.0.0 and ::, which are not a destination.
 * unless the address is in the target's `allowAddresses` (addresses or CIDR ranges an admin set).
 */
import { BlockList, isIP } from 'node:net';
import { classifyAddress } from '../../intelligence/notify/address.js';
import type { AddressPolicy } from '../../scrape/http.js';

const extraMetadata = new Set(['100.100.100.200']);

/** Parses allow-list entries (address or address/prefix); the error names the bad entry. */
export function allowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const [addr, prefix, more] = e.split('/');
    const family = isIP(addr ?? '');
    const bits = prefix === undefined ? undefined : Number(prefix);
    if (
      family === 0 ||
      more !== undefined ||
      (bits !== undefined && (!/^\d{1,3}$/.test(prefix!) || bits > (family === 4 ? 32 : 128)))
    ) {
      throw new Error(`allowAddresses: "${e.slice(0, 60)}" is not an IP address or CIDR range`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, bits, type);
  }
  return list;
}

/** The rule that refuses `ip`, or undefined. */
export function refusedRule(ip: string): 'cloud-metadata' | 'link-local' | 'unspecified' | undefined {
  const bare = ip.split('%')[0]!;
  const kind = classifyAddress(bare);
  if (kind === 'metadata') return 'cloud-metadata';
  if (kind === 'link-local') return 'link-local';
  if (kind === 'unspecified') return 'unspecified';
  if (extraMetadata.has(bare)) return 'cloud-metadata';
  return undefined;
}

function allowed(list: BlockList, ip: string): boolean {
  const bare = ip.split('%')[0]!;
  const family = isIP(bare);
  if (family === 0) return false;
  return list.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** The address policy for a target with allow list `allow` (see the module header). */
export function scrapeAddressPolicy(allow: readonly string[] = []): AddressPolicy {
  const list = allowList(allow);
  return (ip) => {
    const rule = refusedRule(ip);
    if (rule === undefined || allowed(list, ip)) return undefined;
    const what =
      rule === 'cloud-metadata'
        ? 'a cloud metadata address'
        : rule === 'link-local'
          ? 'a link-local address'
          : 'the unspecified address';
    return `${ip} is ${what} (rule ${rule}); server-side scrapes do not go there unless an admin adds it to the target's allowAddresses`;
  };
}
