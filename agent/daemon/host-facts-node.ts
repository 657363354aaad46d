/**
 * @layer adapter
 * HostFacts on the real host: paths resolved with realpath (the deepest part that exists),
 * libvirt's storage pools from `virsh pool-list` / `pool-dumpxml` (a missing virsh or pool gives
 * none, never an error), the domains' disk files from the daemon's hypervisor; and VolumeRecord
 * as one JSON file (default: `known-volumes.json` beside the journal), replaced atomically.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Hypervisor } from '../hypervisor/port.ts';
import { run } from '../system/run.ts';
import type { HostFacts, VolumeRecord } from './host-facts.ts';

export class NodeHostFacts implements HostFacts {
  constructor(private readonly hypervisor: Pick<Hypervisor, 'listDomains' | 'disks'>, private readonly virsh = 'virsh') {}

  async resolve(p: string): Promise<string> {
    const rest: string[] = [];
    let at = path.resolve(p);
    for (;;) {
      try {
        return path.join(await realpath(at), ...rest.reverse());
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || at === '/') throw e;
        rest.push(path.basename(at));
        at = path.dirname(at);
      }
    }
  }

  async poolPaths(): Promise<string[]> {
    const list = await run(this.virsh, ['-c', 'qemu:///system', 'pool-list', '--all', '--name'], { timeoutMs: 15_000 }).catch(() => undefined);
    const names = (list?.stdout ?? '').split('\n').map((s) => s.trim()).filter(Boolean);
    const out: string[] = [];
    for (const name of names) {
      const xml = await run(this.virsh, ['-c', 'qemu:///system', 'pool-dumpxml', name], { timeoutMs: 15_000 }).catch(() => undefined);
      const m = /<target>[\s\S]*?<path>([^<]+)<\/path>/.exec(xml?.stdout ?? '');
      if (m) out.push(m[1].trim());
    }
    return out;
  }

  async domainVolumes(): Promise<string[]> {
    const doms = await this.hypervisor.listDomains();
    const disks = await Promise.all(doms.map((d) => this.hypervisor.disks(d.uuid).catch(() => [])));
    return disks.flat().filter((d) => d.kind === 'file' || d.kind === 'block').map((d) => d.source);
  }
}

type Entries = Record<string, { domain: string; files: string[]; at: string }>;

export class FileVolumeRecord implements VolumeRecord {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  private async read(): Promise<Entries> {
    try {
      const v = JSON.parse(await readFile(this.file, 'utf8')) as unknown;
      return v && typeof v === 'object' ? (v as Entries) : {};
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new Error(`[daemon] cannot read the known volumes in ${this.file}: ${(e as Error).message}`, { cause: e });
    }
  }

  remember(vmId: string, domain: string, files: string[]): Promise<void> {
    const next = this.chain.catch(() => {}).then(async () => {
      const all = await this.read();
      all[vmId] = { domain, files, at: new Date().toISOString() };
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.tmp-${randomBytes(4).toString('hex')}`;
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(all, null, 1));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    });
    this.chain = next;
    return next;
  }

  async all(): Promise<{ vmId: string; domain: string; file: string }[]> {
    await this.chain.catch(() => {});
    const all = await this.read();
    return Object.entries(all).flatMap(([vmId, v]) => (Array.isArray(v?.files) ? v.files.filter((f) => typeof f === 'string').map((file) => ({ vmId, domain: String(v.domain), file })) : []));
  }
}
