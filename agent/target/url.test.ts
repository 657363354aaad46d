import { describe, expect, it } from 'vitest';
import { formatSshUrl, parseTargetUrl } from './url.ts';

describe('parseTargetUrl', () => {
  it('reads local paths and file:// URLs', () => {
    expect(parseTargetUrl('/srv/backups')).toEqual({ kind: 'local', path: '/srv/backups' });
    expect(parseTargetUrl('rel/dir')).toEqual({ kind: 'local', path: 'rel/dir' });
    expect(parseTargetUrl('file:///srv/my%20backups/')).toEqual({ kind: 'local', path: '/srv/my backups' });
    expect(parseTargetUrl('file://localhost/srv')).toEqual({ kind: 'local', path: '/srv' });
    expect(() => parseTargetUrl('file://other/srv')).toThrow(/no other host/);
    expect(() => parseTargetUrl('')).toThrow(/^\[target\]/);
  });

  it('reads ssh:// URLs: user, host, IPv6, port, path', () => {
    expect(parseTargetUrl('ssh://backup@repo.example/srv/backups')).toEqual({ kind: 'ssh', user: 'backup', host: 'repo.example', port: 22, path: '/srv/backups' });
    expect(parseTargetUrl('ssh://repo.example:2222/srv')).toEqual({ kind: 'ssh', user: undefined, host: 'repo.example', port: 2222, path: '/srv' });
    expect(parseTargetUrl('ssh://u@[::1]:2200/a/b/')).toEqual({ kind: 'ssh', user: 'u', host: '::1', port: 2200, path: '/a/b' });
    expect(parseTargetUrl('ssh://u@[fe80::1%25eth0]/x')).toMatchObject({ host: 'fe80::1%25eth0', port: 22 });
    expect(parseTargetUrl('ssh://u@127.0.0.1:/x')).toMatchObject({ host: '127.0.0.1', port: 22 });
    expect(parseTargetUrl('SSH://a%40b@h/with%20space/%27q%27')).toEqual({ kind: 'ssh', user: 'a@b', host: 'h', port: 22, path: "/with space/'q'" });
    expect(parseTargetUrl('ssh://u@h/')).toMatchObject({ path: '/' });
  });

  it('refuses what it cannot use', () => {
    for (const [url, why] of [
      ['ssh://u@h', /path is missing/],
      ['ssh://u@h:0/x', /out of range/],
      ['ssh://u@h:65536/x', /out of range/],
      ['ssh://u@h:22x/x', /cannot read a host/],
      ['ssh://u@[1.2.3.4]/x', /IPv6/],
      ['ssh://u@::1/x', /cannot read a host/],
      ['ssh://@h/x', /user is empty/],
      ['ssh://u@h/a/../b', /'\.\.'/],
      ['ssh://u@h/a%zz', /percent-encoding/],
      ['ssh://u@h/a?x=1', /queries/],
      ['sftp://u@h/x', /unknown scheme/],
    ] as const) expect(() => parseTargetUrl(url), url).toThrow(why);
  });

  it('formats a canonical URL that parses back', () => {
    const loc = { user: 'sendense-repo', host: '::1', port: 2200, path: "/srv/it's here" };
    const url = formatSshUrl(loc);
    expect(url).toBe("ssh://sendense-repo@[::1]:2200/srv/it's%20here");
    expect(parseTargetUrl(url)).toEqual({ kind: 'ssh', ...loc });
    expect(formatSshUrl({ host: 'h', port: 22, path: '/srv' })).toBe('ssh://h:22/srv');
  });
});
