import { describe, expect, it } from 'vitest';
import { packageFormatFor, parseOsRelease } from './os-release.ts';
import { decideHost, linkKeyLine, rollingWaves, selectHosts, withKeyLine, withoutKeyLine } from './plan.ts';
import { compareVersions } from './version.ts';
import { DEBIAN_12, ROCKY_9 } from './memory.ts';
import type { HostFacts } from './port.ts';

const facts = (o: Partial<HostFacts> = {}): HostFacts => ({ osRelease: DEBIAN_12, installedVersion: null, libvirt: true, systemd: true, freeBytes: 10 * 2 ** 30, hostClockMs: 0, localClockMs: 0, ...o });
const want = { version: '0.2.0', sizes: { deb: 35 * 2 ** 20, rpm: 35 * 2 ** 20 } };

describe('deployment decisions', () => {
  it('maps os-release to the package format, and names an unsupported OS', () => {
    expect(packageFormatFor(parseOsRelease(DEBIAN_12))).toEqual({ format: 'deb' });
    expect(packageFormatFor(parseOsRelease('ID=ubuntu\nVERSION_ID="24.04"\n'))).toEqual({ format: 'deb' });
    expect(packageFormatFor(parseOsRelease(ROCKY_9))).toEqual({ format: 'rpm' });
    expect(packageFormatFor(parseOsRelease('ID="almalinux"\nVERSION_ID="8.9"\nID_LIKE="rhel centos fedora"\n'))).toEqual({ format: 'rpm' });
    const old = packageFormatFor(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n'));
    expect(old).toEqual({ unsupported: expect.stringMatching(/Debian GNU\/Linux 11 \(bullseye\) is not supported.*Debian 12/) });
    expect(packageFormatFor(parseOsRelease('ID=ubuntu\nVERSION_ID="20.04"\n'))).toHaveProperty('unsupported');
  });

  it('orders versions as dpkg does', () => {
    expect(compareVersions('0.1.0', '0.1.0')).toBe(0);
    expect(compareVersions('0.1.0', '0.1.0+upgrade1')).toBeLessThan(0);
    expect(compareVersions('0.10.0', '0.9.9')).toBeGreaterThan(0);
    expect(compareVersions('1.0~rc1', '1.0')).toBeLessThan(0);
    expect(compareVersions('1:0.1', '2.0')).toBeGreaterThan(0);
    expect(compareVersions('0.1.0-2', '0.1.0-10')).toBeLessThan(0);
  });

  it('decides install, upgrade, current, or refuses with the reason', () => {
    expect(decideHost(facts(), want)).toEqual({ kind: 'install', format: 'deb' });
    expect(decideHost(facts({ installedVersion: '0.1.0' }), want)).toEqual({ kind: 'upgrade', format: 'deb', from: '0.1.0' });
    expect(decideHost(facts({ installedVersion: '0.2.0' }), want)).toEqual({ kind: 'current', format: 'deb', version: '0.2.0' });
    expect(decideHost(facts({ installedVersion: '0.3.0' }), want)).toMatchObject({ kind: 'current', version: '0.3.0' });
    expect(decideHost(facts({ installedVersion: '0.3.0' }), want, { downgrade: true })).toMatchObject({ kind: 'upgrade', from: '0.3.0' });
    expect(decideHost(facts({ osRelease: ROCKY_9 }), want)).toEqual({ kind: 'install', format: 'rpm' });
    expect(decideHost(facts({ osRelease: null }), want)).toMatchObject({ kind: 'refuse', code: 'unsupported-os' });
    expect(decideHost(facts({ libvirt: false }), want)).toMatchObject({ kind: 'refuse', code: 'no-libvirt', reason: expect.stringMatching(/no libvirt daemon/) });
    expect(decideHost(facts({ freeBytes: 50 * 2 ** 20 }), want)).toMatchObject({ kind: 'refuse', code: 'disk-full', reason: expect.stringMatching(/only 50 MiB free.*about 140 MiB/) });
    expect(decideHost(facts({ osRelease: ROCKY_9 }), { version: '0.2.0', sizes: { deb: 1 } })).toMatchObject({ kind: 'refuse', code: 'no-package' });
  });

  it("the link key may only forward to a unix socket; re-runs replace the control plane's line and keep the admin's", () => {
    const line = linkKeyLine('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB sendense@cp');
    expect(line).toBe('restrict,port-forwarding,permitlisten="127.0.0.1:9",command="/bin/false" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB sendense-control-plane');
    expect(() => linkKeyLine('command="sh" ssh-ed25519 AAAA')).toThrow(/not an OpenSSH public key line/);
    const first = withKeyLine('ssh-rsa AAAAB3 admin@laptop\n', line);
    expect(first).toBe(`ssh-rsa AAAAB3 admin@laptop\n${line}\n`);
    expect(withKeyLine(first, line)).toBe(first);
    expect(withoutKeyLine(first, 'sendense-control-plane')).toBe('ssh-rsa AAAAB3 admin@laptop\n');
  });

  it("selects CloudStack's hosts: named ones, Up and Enabled, the rest skipped with why", () => {
    const rows = [
      { id: 'h1', name: 'kvm1', ipaddress: '10.0.0.1', state: 'Up', resourcestate: 'Enabled', clusterid: 'c1' },
      { id: 'h2', name: 'kvm2', ipaddress: '10.0.0.2', state: 'Up', resourcestate: 'Maintenance', clusterid: 'c1' },
      { id: 'h3', name: 'kvm3', ipaddress: '10.0.0.3', state: 'Down', resourcestate: 'Enabled', clusterid: 'c2' },
      { id: 'h4', name: 'kvm4', state: 'Up', resourcestate: 'Enabled' },
    ];
    const all = selectHosts(rows, {});
    expect(all.targets.map((t) => t.name)).toEqual(['kvm1']);
    expect(all.skipped.map((s) => `${s.name}: ${s.reason}`)).toEqual([
      'kvm2: its resource state is Maintenance in CloudStack (name it with includeUnavailable to deploy anyway)',
      'kvm3: its state is Down in CloudStack (name it with includeUnavailable to deploy anyway)',
      'kvm4: CloudStack gives it no IP address',
    ]);
    expect(selectHosts(rows, { hosts: ['kvm2', 'h1', 'nope'], includeUnavailable: true })).toMatchObject({ targets: [{ name: 'kvm1' }, { name: 'kvm2' }], unknown: ['nope'] });
    expect(selectHosts(rows, { clusterId: 'c2', includeUnavailable: true }).targets.map((t) => t.name)).toEqual(['kvm3']);
  });

  it('a rolling upgrade goes cluster by cluster, hosts without a cluster last', () => {
    const t = (name: string, clusterId?: string) => ({ name, address: name, clusterId });
    expect(rollingWaves([t('b', 'c2'), t('x'), t('a', 'c1'), t('c', 'c2')]).map((w) => w.map((h) => h.name))).toEqual([['a'], ['b', 'c'], ['x']]);
  });
});
