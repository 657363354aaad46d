/**
 * @layer logic
 * Which package a KVM host takes, from its /etc/os-release: Debian 12 and Ubuntu 22.04 / 24.04
 * take the .deb, EL 8 / 9 (RHEL, Rocky, Alma, CentOS Stream, Oracle Linux) the .rpm — what
 * packaging/ builds for. Anything else is refused with the OS named (the agent's private runtime
 * needs glibc ≥ 2.28, and the dependencies' names differ per family).
 */
export type PackageFormat = 'deb' | 'rpm';

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string;
  prettyName: string;
}

/** Parses os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): OsRelease {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
    kv.set(m[1], v);
  }
  const id = (kv.get('ID') ?? '').toLowerCase();
  return {
    id,
    idLike: (kv.get('ID_LIKE') ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    versionId: kv.get('VERSION_ID') ?? '',
    prettyName: kv.get('PRETTY_NAME') ?? (id ? `${id} ${kv.get('VERSION_ID') ?? ''}`.trim() : 'an unnamed OS'),
  };
}

const EL = ['rhel', 'rocky', 'almalinux', 'centos', 'ol'];

export const SUPPORTED_OS = 'Debian 12, Ubuntu 22.04 / 24.04, EL 8 / 9 (RHEL, Rocky, Alma, CentOS Stream, Oracle Linux)';

/** The package format for this OS, or why it is not supported. */
export function packageFormatFor(os: OsRelease): { format: PackageFormat } | { unsupported: string } {
  const major = os.versionId.split('.')[0];
  if (os.id === 'debian' && major === '12') return { format: 'deb' };
  if (os.id === 'ubuntu' && (os.versionId === '22.04' || os.versionId === '24.04')) return { format: 'deb' };
  const el = EL.includes(os.id) || os.idLike.includes('rhel');
  if (el && (major === '8' || major === '9')) return { format: 'rpm' };
  return { unsupported: `${os.prettyName} is not supported (the packages are built for ${SUPPORTED_OS})` };
}
