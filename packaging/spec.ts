/**
 * @layer logic
 * What the four packages are: names, files, dependencies per package format, conffiles, the
 * systemd unit and the values the maintainer-script templates (packaging/scripts/) are filled
 * with. Plain data; packaging/stage.ts lays the files out and deb.ts / rpm.ts wrap them.
 */

export type PackageName = 'sendense-agent' | 'sendense';
export type Format = 'deb' | 'rpm';

export interface PackageSpec {
  name: PackageName;
  summary: string;
  description: string;
  /** private runtime directory under /usr/lib/sendense */
  libDir: string;
  /** command in /usr/bin and the bundle it runs */
  command: string;
  bundle: string;
  /** npm modules the bundle needs beside it (packaging/runtime-modules.ts) */
  modules: string[];
  unit: string;
  /** systemd Wants= for the unit, per format (see sendense-agent.service) */
  wants: Record<Format, string>;
  depends: Record<Format, string[]>;
  config: { file: string; template: string };
  /** values for the @KEY@ placeholders in the maintainer scripts */
  scripts: { STATE: string; HOME: string; ENABLE: 'yes' | 'no'; EXTRA_CONFIGURE: string; PURGE: string; OTHER_UNIT_FILE: string };
}

/** glibc 2.28 and libstdc++ (GLIBCXX 3.4.21) are what the pinned node binary links against */
const RUNTIME_DEB = ['libc6 (>= 2.28)', 'libstdc++6 (>= 6)', 'passwd'];
const RUNTIME_RPM = ['glibc >= 2.28', 'libstdc++', 'shadow-utils'];

export const AGENT: PackageSpec = {
  name: 'sendense-agent',
  summary: 'Sendense backup agent for Apache CloudStack KVM hosts',
  description: [
    'The agent on every KVM host: backs up running and stopped VMs incrementally',
    'with libvirt checkpoints and pull-mode backups into verified QCOW2 chains on',
    'a repository host over SSH, and restores them. Its daemon serves the control',
    'plane on a unix socket reached over SSH. Ships its own Node.js runtime under',
    '/usr/lib/sendense/agent.',
  ].join('\n'),
  libDir: '/usr/lib/sendense/agent',
  command: 'sendense-agent',
  bundle: 'sendense-agent.mjs',
  modules: ['ssh2'],
  unit: 'sendense-agent.service',
  wants: { deb: 'libvirtd.service', rpm: 'virtqemud.socket' },
  depends: {
    deb: [...RUNTIME_DEB, 'qemu-utils', 'libvirt-clients', 'openssh-client'],
    rpm: [...RUNTIME_RPM, 'qemu-img', 'libvirt-client', 'openssh-clients'],
  },
  config: { file: '/etc/sendense/agent.json', template: 'agent.json' },
  scripts: {
    STATE: 'sendense-agent',
    HOME: '/var/lib/sendense',
    ENABLE: 'yes',
    EXTRA_CONFIGURE: 'install -d -m 0755 -o root -g root /var/lib/sendense\n  install -d -m 0700 -o sendense -g sendense /var/lib/sendense/.ssh',
    PURGE: 'rm -rf /var/lib/sendense-agent /run/sendense',
    OTHER_UNIT_FILE: '/lib/systemd/system/sendense.service',
  },
};

export const CONTROL_PLANE: PackageSpec = {
  name: 'sendense',
  summary: 'control plane of the Sendense backups for Apache CloudStack KVM',
  description: [
    'The control plane: discovers VMs from CloudStack, schedules backups, applies',
    'retention, runs restores and verification through the agents on the KVM',
    'hosts, and serves the API and the CloudStack UI plug-in files. Ships its own',
    'Node.js runtime under /usr/lib/sendense/server.',
  ].join('\n'),
  libDir: '/usr/lib/sendense/server',
  command: 'sendense',
  bundle: 'sendense.mjs',
  modules: ['ssh2', 'better-sqlite3'],
  unit: 'sendense.service',
  wants: { deb: '', rpm: '' },
  depends: { deb: [...RUNTIME_DEB, 'openssh-client'], rpm: [...RUNTIME_RPM, 'openssh-clients'] },
  config: { file: '/etc/sendense/sendense.json', template: 'sendense.json' },
  scripts: {
    STATE: 'sendense',
    HOME: '/var/lib/sendense',
    // not started before the admin has put CloudStack's endpoint and keys into sendense.json
    ENABLE: 'no',
    EXTRA_CONFIGURE: [
      'install -d -m 0750 -o sendense -g sendense /var/lib/sendense',
      'install -d -m 0700 -o sendense -g sendense /var/lib/sendense/.ssh',
      'if [ ! -e /etc/sendense/token-secret ]; then (umask 027; head -c 48 /dev/urandom | base64 | tr -d "\\n" > /etc/sendense/token-secret); chgrp sendense /etc/sendense/token-secret; fi',
    ].join('\n  '),
    PURGE: 'rm -f /etc/sendense/token-secret',
    OTHER_UNIT_FILE: '/lib/systemd/system/sendense-agent.service',
  },
};

export const PACKAGES: readonly PackageSpec[] = [AGENT, CONTROL_PLANE];

/** Fills @KEY@ placeholders; an unknown placeholder is an error (a template and spec out of step). */
export function fillTemplate(text: string, values: Record<string, string>, what: string): string {
  return text.replace(/@([A-Z_]+)@/g, (_, k: string) => {
    if (!(k in values)) throw new Error(`[packaging] ${what}: no value for @${k}@`);
    return values[k];
  });
}

/** A Debian version from package.json's (semver pre-releases sort before the release: ~). */
export function debVersion(v: string): string {
  return v.replace('-', '~');
}

/** rpm Version and Release from package.json's version: 0.1.0-rc.1 → 0.1.0~rc.1, release 1. */
export function rpmVersion(v: string): { version: string; release: string } {
  return { version: v.replace(/-/g, '~').replace(/\+/g, '^'), release: '1' };
}
