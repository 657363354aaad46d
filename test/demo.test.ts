/**
 * The README's main-job line, as a new user runs it (minus the Ctrl-C): `sendense demo` brings up
 * the CloudStack simulator, the agent over SSH, an SSH repository and the control plane, backs up
 * two VMs full and incremental through the control plane, and cleans up after itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../agent/system/run.ts';

const BIN = path.resolve(import.meta.dirname, '../api/bin/sendense.mjs');

describe('sendense demo', () => {
  it('runs the main job on embedded defaults and leaves nothing behind', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'sendense-demo-'));
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // the lab's daemons belong to this test run: the demo must not stop them
      const child = spawn(process.execPath, [BIN, 'demo', '--no-serve', '--port', '0'], { cwd, env: { ...process.env, SENDENSE_LAB_KEEP_DAEMONS: '1' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b) => { stdout += b; });
      child.stderr.on('data', (b) => { stderr += b; });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/web-1: full backup succeeded/);
    expect(out.stdout).toMatch(/db-1: full backup succeeded/);
    expect(out.stdout).toMatch(/web-1: incremental backup succeeded — incremental since/);
    expect(out.stdout).toMatch(/db-1: incremental backup succeeded/);
    expect(out.stdout).toMatch(/web-1: 2 restore points recorded/);
    expect(out.stdout).toMatch(/cleaned up/);
    expect(existsSync(path.join(cwd, '.sendense', 'sendense.db'))).toBe(true);
    // its VMs are gone
    const names = (await run('virsh', ['-q', '-c', 'qemu:///system', 'list', '--all', '--name'])).stdout;
    expect(names).not.toMatch(/demo-(web|db)/);
  });
});
