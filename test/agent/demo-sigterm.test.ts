/**
 * Issue 12 item 7: `sendense demo` cleans up on SIGTERM as on Ctrl-C, also when the signal comes
 * a few seconds in (before: a SIGTERM during set-up left the VMs and the sshds running). A real
 * demo process gets a real SIGTERM once it has started its sshds and the agent daemon; afterwards
 * no libvirt domain and no process of its lab run is left.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../agent/system/run.ts';

const BIN = path.resolve(import.meta.dirname, '../../api/bin/sendense.mjs');
const cwd = mkdtempSync(path.join(os.tmpdir(), 'sendense-demo-term-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

/** pids of processes whose command line names the lab run `id` (sshd configs, agent dirs, qemu of its VMs) */
function processesOf(id: string): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let cmd = '';
    try { cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1').replace(/\0/g, ' '); } catch { continue; }
    if (cmd.includes(`/runs/${id}/`) || cmd.includes(`sdlab-${id}-`)) out.push(`${p}: ${cmd.slice(0, 160)}`);
  }
  return out;
}

async function domainsOf(id: string): Promise<string[]> {
  const r = await run('virsh', ['-q', '-c', 'qemu:///system', 'list', '--all', '--name']);
  return r.stdout.split('\n').map((s) => s.trim()).filter((n) => n.startsWith(`sdlab-${id}-`));
}

describe('sendense demo and SIGTERM', () => {
  it('a SIGTERM during set-up: the demo cleans up what it started and exits; no VM, sshd or agent of its run is left', async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--no-serve', '--port', String(20000 + (process.pid % 20000))], {
      cwd, env: { ...process.env, SENDENSE_LAB_KEEP_DAEMONS: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const id = String(child.pid);
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    // the sshds and the agent daemon are up (and the VMs being made): what a 5 s SIGTERM used to leave behind
    const t0 = Date.now();
    while (!/agent daemon on /.test(out)) {
      if (child.exitCode !== null) throw new Error(`the demo ended before it started anything:\n${out}`);
      if (Date.now() - t0 > 240_000) { child.kill('SIGKILL'); throw new Error(`the demo did not start its agent in 240 s:\n${out}`); }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(processesOf(id).length, 'the demo has started processes of its run').toBeGreaterThan(0);
    child.kill('SIGTERM');
    const code = await exited;
    expect(out).toMatch(/SIGTERM: stopping, cleaning up/);
    expect(out).toMatch(/cleaned up: VMs, agent, sshd/);
    expect(code).toBe(1); // it did not finish its backups
    expect(await domainsOf(id)).toEqual([]);
    expect(processesOf(id)).toEqual([]);
  }, 600_000);
});
