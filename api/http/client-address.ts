/**
 * @layer entry
 * Who is on the other end of a request, for rate limits and the audit log. Without `trustProxy`
 * it is the socket's peer. Behind reverse proxies it is the right-most address of
 * `X-Forwarded-For` (with the peer appended) that is not one of the `trustedProxies` (addresses
 * or CIDR ranges; default loopback): each proxy appends what it saw, so everything left of the
 * first untrusted hop is whatever the client chose to send and is never believed. A peer that
 * is not a trusted proxy is the client, whatever its headers say.
 */
import { BlockList, isIP } from 'node:net';
import type { Context } from 'hono';
import { socketAddress } from './deps.ts';

export interface ClientAddressOptions {
  trustProxy: boolean;
  /** addresses or CIDR ranges of the proxies in front (default 127.0.0.1 and ::1) */
  trustedProxies?: readonly string[];
}

export class ProxyListError extends Error {
  override name = 'ProxyListError';
}

function blockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const [addr, bits] = raw.trim().split('/');
    const family = isIP(addr);
    if (!family) throw new ProxyListError(`[http] trusted proxy ${JSON.stringify(raw)} is not an IP address or CIDR range`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) throw new ProxyListError(`[http] trusted proxy ${JSON.stringify(raw)}: bad prefix length`);
      list.addSubnet(addr, prefix, type);
    }
  }
  return list;
}

/** `::ffff:10.0.0.1` (a v4 peer on a v6 socket) is 10.0.0.1. */
function plain(addr: string): string {
  const a = addr.trim().replace(/^\[|\]$/g, '');
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a;
}

export function clientAddressOf(o: ClientAddressOptions): (c: Context) => string {
  const trusted = blockList(o.trustedProxies?.length ? o.trustedProxies : ['127.0.0.1', '::1']);
  const isTrusted = (a: string) => {
    const family = isIP(a);
    return family !== 0 && trusted.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
  return (c) => {
    const peer = plain(socketAddress(c));
    if (!o.trustProxy || !isTrusted(peer)) return peer;
    const hops = (c.req.header('x-forwarded-for') ?? '').split(',').map(plain).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!isIP(hops[i])) return peer; // garbage where an address should be: believe nothing left of it
      if (!isTrusted(hops[i])) return hops[i];
    }
    return hops[0] ?? peer;
  };
}
