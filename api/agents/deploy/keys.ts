/**
 * @layer adapter
 * What deployment needs of the control plane's own files: a fresh ed25519 key pair per host for
 * the repository (ssh2's generator, OpenSSH format), the link key's public half, the repository
 * host's pinned key lines, and the agent packages in a directory (the newest version that has a
 * .deb and/or .rpm, named as `npm run package` names them).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { DeployError } from './errors.ts';
import type { PackageFormat } from './os-release.ts';
import type { AgentPackage, KeyPair } from './port.ts';
import { compareVersions } from './version.ts';

export function newKeyPair(comment: string): KeyPair {
  const kp = ssh2.utils.generateKeyPairSync('ed25519', { comment });
  return { privateKey: kp.private, publicKey: kp.public.trim() };
}

/** The public key line next to a private key file (`FILE.pub`). */
export function publicKeyOf(identityFile: string): string {
  try {
    return readFileSync(`${identityFile}.pub`, 'utf8').trim();
  } catch (e) {
    throw new DeployError('failed', `cannot read the control plane's link key ${identityFile}.pub: ${(e as Error).message} (make it: ssh-keygen -t ed25519 -N '' -f ${identityFile})`, {}, { cause: e });
  }
}

const NAMES: Record<PackageFormat, RegExp> = {
  deb: /^sendense-agent_(.+)_amd64\.deb$/,
  rpm: /^sendense-agent-(.+)-1\.x86_64\.rpm$/,
};

/** The agent packages in `dir`: the newest version (or `version`), one per format. */
export function packagesIn(dir: string, version?: string): Partial<Record<PackageFormat, AgentPackage>> {
  let names: string[];
  try { names = readdirSync(dir); } catch (e) {
    throw new DeployError('no-package', `cannot read the agent packages' directory ${dir}: ${(e as Error).message} (put the files npm run package makes there)`, {}, { cause: e });
  }
  const found: { format: PackageFormat; version: string; file: string }[] = [];
  for (const n of names) {
    for (const f of ['deb', 'rpm'] as const) {
      const m = NAMES[f].exec(n);
      if (m) found.push({ format: f, version: m[1], file: path.join(dir, n) });
    }
  }
  if (!found.length) throw new DeployError('no-package', `${dir} holds no sendense-agent package (sendense-agent_<v>_amd64.deb, sendense-agent-<v>-1.x86_64.rpm)`);
  const v = version ?? found.map((x) => x.version).sort(compareVersions).at(-1)!;
  const out: Partial<Record<PackageFormat, AgentPackage>> = {};
  for (const x of found.filter((y) => y.version === v)) {
    out[x.format] = { format: x.format, version: v, fileName: path.basename(x.file), size: statSync(x.file).size, read: async () => new Uint8Array(await readFile(x.file)) };
  }
  if (!Object.keys(out).length) throw new DeployError('no-package', `${dir} has no sendense-agent ${v} package (it has ${[...new Set(found.map((x) => x.version))].join(', ')})`);
  return out;
}
