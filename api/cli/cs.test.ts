/**
 * `npx sendense cs` and `npx sendense cloudstack-sim` end to end: the real bin, as subprocesses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { isAlive, waitFor } from '../../test/lab/proc.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { serveSimulator } from '../cloudstack-sim/serve.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/sendense.mjs');
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.pid && isAlive(c.pid)) { c.kill('SIGTERM'); await waitFor('sim exit', () => !isAlive(c.pid!), 10_000).catch(() => c.kill('SIGKILL')); }
});

const sendense = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, okCodes: [1, 2], timeoutMs: 60_000 });

describe('sendense cs', () => {
  it('listZones against a served simulator, keys from flags or environment', async () => {
    const sim = createSimulator({ asyncDelayMs: 100 });
    const served = await serveSimulator(sim);
    try {
      const r = await sendense(['cs', 'listZones', '--endpoint', served.endpoint, '--api-key', sim.adminKeys.apiKey, '--secret-key', sim.adminKeys.secretKey]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ count: 1, zone: [{ name: 'zone1', id: sim.state.zones[0].id }] });

      const env = { SENDENSE_CS_ENDPOINT: served.origin, SENDENSE_CS_API_KEY: sim.adminKeys.apiKey, SENDENSE_CS_SECRET_KEY: sim.adminKeys.secretKey };
      const vm = sim.state.vms.find((v) => v.state === 'Stopped')!;
      const start = await sendense(['cs', 'startVirtualMachine', `id=${vm.id}`], env);
      expect(start.code).toBe(0);
      expect(JSON.parse(start.stdout).virtualmachine).toMatchObject({ id: vm.id, state: 'Running' });

      const err = await sendense(['cs', 'startVirtualMachine'], env);
      expect(err.code).toBe(1);
      expect(err.stderr.trim()).toBe('sendense cs: startVirtualMachine: 431 Unable to execute API command startvirtualmachine due to missing parameter id');
      const bad = await sendense(['cs', 'listZones'], { ...env, SENDENSE_CS_SECRET_KEY: 'wrong' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/401 unable to verify user credentials and\/or request signature/);
      const usage = await sendense(['cs', 'listZones'], {});
      expect(usage.code).toBe(2);
    } finally {
      await served.close();
      await sim.idle();
    }
  });
});

describe('sendense cloudstack-sim', () => {
  it('prints its endpoint and the admin keys, and serves them to sendense cs', async () => {
    const child = spawn(process.execPath, [BIN, 'cloudstack-sim', '--port', '0', '--async-delay', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    await waitFor('simulator banner', () => /secretkey: \S+\n/.test(out), 30_000);
    const endpoint = /endpoint: (\S+)/.exec(out)![1];
    const apiKey = /apikey: (\S+)/.exec(out)![1];
    const secretKey = /secretkey: (\S+)/.exec(out)![1];
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/client\/api$/);
    const r = await sendense(['cs', 'listVirtualMachines', 'listall=true', '--all', '--endpoint', endpoint, '--api-key', apiKey, '--secret-key', secretKey]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string }[]).map((v) => v.name).sort()).toEqual(['db-1', 'infra-1', 'web-1']);
    const login = await sendense(['cs', 'listVirtualMachines', '--endpoint', endpoint, '--username', 'alice', '--password', 'password', '--domain', '/customers']);
    expect(JSON.parse(login.stdout).count).toBe(2);
    child.kill('SIGTERM');
    await waitFor('simulator to exit', () => !isAlive(child.pid!), 10_000);
    expect(child.exitCode ?? 0).toBe(0);
  });
});
