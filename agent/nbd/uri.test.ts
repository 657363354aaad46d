import { describe, expect, it } from 'vitest';
import { formatNbdUri, parseNbdUri } from './uri.ts';

describe('NBD URIs', () => {
  it('parses unix-socket URIs, with and without an export name', () => {
    expect(parseNbdUri('nbd+unix:///vda?socket=/run/x/backup.sock')).toEqual({ transport: 'unix', socket: '/run/x/backup.sock', export: 'vda' });
    expect(parseNbdUri('nbd+unix:///?socket=/tmp/s')).toEqual({ transport: 'unix', socket: '/tmp/s', export: '' });
    expect(parseNbdUri('nbd+unix:///a%20b%2Fc?socket=/tmp/s%20t')).toEqual({ transport: 'unix', socket: '/tmp/s t', export: 'a b/c' });
    expect(parseNbdUri('/tmp/plain.sock')).toEqual({ transport: 'unix', socket: '/tmp/plain.sock', export: '' });
  });

  it('parses TCP URIs with the default port, a port, and an IPv6 literal', () => {
    expect(parseNbdUri('nbd://127.0.0.1/disk')).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 10809, export: 'disk' });
    expect(parseNbdUri('nbd://localhost:10900/')).toEqual({ transport: 'tcp', host: 'localhost', port: 10900, export: '' });
    expect(parseNbdUri('nbd://[::1]:7000/x')).toEqual({ transport: 'tcp', host: '::1', port: 7000, export: 'x' });
  });

  it('refuses what it cannot serve, saying why', () => {
    expect(() => parseNbdUri('nbd+unix:///vda')).toThrow(/without \?socket=PATH/);
    expect(() => parseNbdUri('nbds://h/x')).toThrow(/TLS/);
    expect(() => parseNbdUri('http://h/x')).toThrow(/unsupported scheme http:/);
    expect(() => parseNbdUri('not a uri')).toThrow(/\[nbd\] not a URI/);
  });

  it('formats what it parses back to an equal address', () => {
    for (const u of ['nbd+unix:///vda?socket=/run/x/b.sock', 'nbd+unix:///?socket=/tmp/s', 'nbd://127.0.0.1:10809/disk', 'nbd://[::1]:7000/x y']) {
      const a = parseNbdUri(u.replace(' ', '%20'));
      expect(parseNbdUri(formatNbdUri(a))).toEqual(a);
    }
    expect(formatNbdUri({ transport: 'unix', socket: '/run/x/b.sock', export: 'vda' })).toBe('nbd+unix:///vda?socket=/run/x/b.sock');
  });
});
