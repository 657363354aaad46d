/**
 * @layer logic
 * Where a repository lives, from the string a user configures:
 * - `/srv/backups`, `./rel`, `file:///srv/backups` → a local directory;
 * - `ssh://[user@]host[:port]/abs/path` → a directory on a repository host over SSH; host may be
 *   a name, an IPv4 address or `[IPv6]`; port defaults to 22; user and path may be
 *   percent-encoded (`%20`), and the path must be absolute.
 * Throws an Error whose message starts with '[target]' for anything else.
 */

export type TargetLocation =
  | { kind: 'local'; path: string }
  | { kind: 'ssh'; user?: string; host: string; port: number; path: string };

function bad(url: string, why: string): Error {
  return new Error(`[target] cannot use ${JSON.stringify(url)} as a repository: ${why}`);
}

function decode(url: string, s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad(url, `bad percent-encoding in the ${what}`);
  }
}

/** '/a//b/' → '/a/b'; rejects '..' and NUL. */
function absPath(url: string, p: string): string {
  if (!p.startsWith('/')) throw bad(url, 'the path must be absolute');
  const segs = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw bad(url, "the path must not contain '..'");
  if (p.includes('\0')) throw bad(url, 'the path contains a NUL byte');
  return `/${segs.join('/')}`;
}

export function parseTargetUrl(url: string): TargetLocation {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (url.trim() === '') throw bad(url, 'it is empty');
    if (url.includes('\0')) throw bad(url, 'the path contains a NUL byte');
    return { kind: 'local', path: url };
  }
  const rest = url.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const rawPath = slash < 0 ? '' : rest.slice(slash);
  if (/[?#]/.test(rawPath)) throw bad(url, 'queries and fragments are not allowed (percent-encode ? and #)');
  if (scheme === 'file') {
    if (authority !== '' && authority.toLowerCase() !== 'localhost') throw bad(url, 'a file:// URL names no other host');
    return { kind: 'local', path: absPath(url, decode(url, rawPath, 'path')) };
  }
  if (scheme !== 'ssh') throw bad(url, `unknown scheme '${scheme}' (use a path, file:// or ssh://)`);
  const at = authority.lastIndexOf('@');
  const user = at < 0 ? undefined : decode(url, authority.slice(0, at), 'user');
  if (user === '') throw bad(url, 'the user is empty');
  const hostPort = authority.slice(at + 1);
  const m = /^(?:\[([0-9a-fA-F:.]+(?:%[\w.-]+)?)\]|([^:[\]/]+))(?::(\d*))?$/.exec(hostPort);
  if (!m) throw bad(url, `cannot read a host in '${hostPort}'`);
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && !m[1].includes(':')) throw bad(url, 'brackets are for IPv6 addresses');
  const port = m[3] === undefined || m[3] === '' ? 22 : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(url, `port ${m[3]} is out of range`);
  if (rawPath === '') throw bad(url, 'the repository path is missing (ssh://host/abs/path)');
  return { kind: 'ssh', user, host, port, path: absPath(url, decode(url, rawPath, 'path')) };
}

/** The canonical ssh:// URL of a location (explicit port, IPv6 in brackets, path encoded). */
export function formatSshUrl(loc: { user?: string; host: string; port: number; path: string }): string {
  const host = loc.host.includes(':') ? `[${loc.host}]` : loc.host;
  const user = loc.user === undefined ? '' : `${encodeURIComponent(loc.user)}@`;
  const p = loc.path.split('/').map(encodeURIComponent).join('/');
  return `ssh://${user}${host}:${loc.port}${p}`;
}
