/**
 * @layer logic
 * NBD URIs (the subset of github.com/NetworkBlockDevice/nbd doc/uri.md that Sendense uses):
 *   nbd+unix:///EXPORT?socket=PATH     unix socket; EXPORT may be empty ("nbd+unix:///?socket=…")
 *   nbd://HOST[:PORT]/EXPORT           TCP, port 10809 by default; [v6] literals allowed
 * A bare absolute path is taken as a unix socket with the default export "".
 * TLS (nbds://, nbds+unix://) is refused: Sendense talks to local or loopback servers only.
 */

export const NBD_DEFAULT_PORT = 10809;

export type NbdAddress =
  | { transport: 'unix'; socket: string; export: string }
  | { transport: 'tcp'; host: string; port: number; export: string };

export class NbdUriError extends Error {
  override name = 'NbdUriError';
}

function exportOf(u: URL): string {
  return decodeURIComponent(u.pathname.replace(/^\//, ''));
}

export function parseNbdUri(uri: string): NbdAddress {
  if (uri.startsWith('/')) return { transport: 'unix', socket: uri, export: '' };
  let u: URL;
  try {
    u = new URL(uri);
  } catch (e) {
    throw new NbdUriError(`[nbd] not a URI: ${JSON.stringify(uri)}`, { cause: e });
  }
  switch (u.protocol) {
    case 'nbd+unix:': {
      const socket = u.searchParams.get('socket');
      if (!socket) throw new NbdUriError(`[nbd] ${uri}: nbd+unix URI without ?socket=PATH`);
      if (u.host) throw new NbdUriError(`[nbd] ${uri}: nbd+unix URI must not name a host`);
      return { transport: 'unix', socket, export: exportOf(u) };
    }
    case 'nbd:': {
      if (!u.hostname) throw new NbdUriError(`[nbd] ${uri}: nbd URI without a host`);
      const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      const port = u.port ? Number(u.port) : NBD_DEFAULT_PORT;
      return { transport: 'tcp', host, port, export: exportOf(u) };
    }
    case 'nbds:':
    case 'nbds+unix:':
      throw new NbdUriError(`[nbd] ${uri}: TLS NBD URIs are not supported`);
    default:
      throw new NbdUriError(`[nbd] ${uri}: unsupported scheme ${u.protocol} (want nbd+unix: or nbd:)`);
  }
}

export function formatNbdUri(a: NbdAddress): string {
  const name = encodeURIComponent(a.export);
  if (a.transport === 'unix') return `nbd+unix:///${name}?socket=${encodeURIComponent(a.socket).replace(/%2F/g, '/')}`;
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `nbd://${host}:${a.port}/${name}`;
}

/** "export \"vda\" at nbd+unix:///vda?socket=…" — how errors name the export they are about. */
export function describeAddress(a: NbdAddress): string {
  return `export ${JSON.stringify(a.export)} at ${formatNbdUri(a)}`;
}
