/**
 * The simulator against a CloudStack client nobody here wrote: `cs` from Debian's python3-cs
 * (installed by the lab's global setup; the package ships the module, run as its console script
 * would: `sys.exit(cs.main())`), talking HTTP to the simulator on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { createSimulator, type Simulator } from './app.ts';
import { serveSimulator, type ServedSimulator } from './serve.ts';
import { defaultState } from './state.ts';

const SPECIAL = "a b!c'd(e)f*g+h/i=j&k é日本 ü";

let sim: Simulator;
let served: ServedSimulator;
let home: string;

beforeAll(async () => {
  const state = defaultState();
  state.vms.find((v) => v.name === 'infra-1')!.displayName = SPECIAL;
  state.vms.find((v) => v.name === 'web-1')!.displayName = 'tilde~name';
  sim = createSimulator({ state, asyncDelayMs: 300 });
  served = await serveSimulator(sim);
  home = mkdtempSync(path.join(os.tmpdir(), 'sendense-pycs-'));
});

afterAll(async () => {
  await served?.close();
  await sim?.idle();
  rmSync(home, { recursive: true, force: true });
});

async function cs(args: string[], keys = sim.adminKeys, env: Record<string, string> = {}) {
  const r = await run('/usr/bin/python3', ['-c', 'import sys; from cs import main; sys.exit(main())', ...args], {
    env: {
      PATH: process.env.PATH, HOME: home, NO_PROXY: '*',
      CLOUDSTACK_ENDPOINT: served.endpoint, CLOUDSTACK_KEY: keys.apiKey, CLOUDSTACK_SECRET: keys.secretKey,
      CLOUDSTACK_POLL_INTERVAL: '0.1', CLOUDSTACK_TIMEOUT: '20', ...env,
    },
    okCodes: [1],
    timeoutMs: 60_000,
  });
  let json: Record<string, unknown> | undefined;
  try { json = JSON.parse(r.stdout); } catch { json = undefined; }
  // on success cs prints the unwrapped result; on an error, the whole envelope: unwrap it too
  if (r.code !== 0 && json && Object.keys(json).length === 1) json = Object.values(json)[0] as Record<string, unknown>;
  return { ...r, json };
}

describe('python3-cs (Debian) against the simulator', () => {
  it('lists VMs (admin with listall, user without admin fields)', async () => {
    const admin = await cs(['listVirtualMachines', 'listall=true']);
    expect(admin.code).toBe(0);
    const vms = admin.json!.virtualmachine as { name: string; instancename?: string }[];
    expect(admin.json!.count).toBe(3);
    expect(vms.map((v) => v.name).sort()).toEqual(['db-1', 'infra-1', 'web-1']);
    expect(vms.every((v) => /^i-\d+-\d+-VM$/.test(v.instancename!))).toBe(true);
    const alice = await cs(['listVirtualMachines', 'listall=true'], sim.keysOf('alice'));
    expect((alice.json!.virtualmachine as { name: string; instancename?: string }[]).map((v) => [v.name, v.instancename]).sort())
      .toEqual([['db-1', undefined], ['web-1', undefined]]);
  });

  it('starts a VM and follows its job to the result (GET and POST)', async () => {
    const vm = sim.state.vms.find((v) => v.name === 'db-1')!;
    expect(vm.state).toBe('Stopped');
    const t0 = Date.now();
    const r = await cs(['startVirtualMachine', `id=${vm.id}`]);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(r.json!.virtualmachine).toMatchObject({ id: vm.id, state: 'Running' });
    expect(vm.state).toBe('Running');
    const stop = await cs(['--post', 'stopVirtualMachine', `id=${vm.id}`]);
    expect(stop.json!.virtualmachine).toMatchObject({ id: vm.id, state: 'Stopped' });
    // a job that fails: cs reports it and exits 1
    const bad = await cs(['startVirtualMachine', `id=${sim.state.vms.find((v) => v.name === 'web-1')!.id}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Job failure/);
  });

  it("gets CloudStack's errors: 431 missing/invalid parameter, 401 unknown command (verifyRequest refuses it before the signature), 401 wrong secret", async () => {
    const missing = await cs(['startVirtualMachine']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 431 response from CloudStack/);
    expect(missing.json!.errortext).toBe('Unable to execute API command startvirtualmachine due to missing parameter id');
    const invalid = await cs(['startVirtualMachine', 'id=nope']);
    expect(invalid.json).toMatchObject({ errorcode: 431, cserrorcode: 9999 });
    const unknown = await cs(['deployEverything']);
    expect(unknown.stderr).toMatch(/HTTP 401/);
    expect(unknown.json!.errortext).toBe('unable to verify user credentials and/or request signature');
    const wrong = await cs(['listZones'], { ...sim.adminKeys, secretKey: 'not-the-secret' });
    expect(wrong.stderr).toMatch(/HTTP 401/);
    expect(wrong.json!.errortext).toBe('unable to verify user credentials and/or request signature');
  });

  it('accepts values with spaces, ! \' ( ) * + / = & and non-ASCII text signed by cs, GET and POST', async () => {
    for (const extra of [[], ['--post']]) {
      const r = await cs([...extra, 'listVirtualMachines', 'listall=true', `keyword=${SPECIAL}`]);
      expect(r.code).toBe(0);
      expect((r.json!.virtualmachine as { displayname: string }[]).map((v) => v.displayname)).toEqual([SPECIAL]);
    }
  });

  it("rejects cs's signature of a value with ~, as CloudStack does (Python's quote leaves ~, Java's URLEncoder encodes it)", async () => {
    const r = await cs(['listVirtualMachines', 'listall=true', 'keyword=tilde~name']);
    expect(r.code).toBe(1);
    expect(r.json!.errortext).toBe('unable to verify user credentials and/or request signature');
    const plain = await cs(['listVirtualMachines', 'listall=true', 'keyword=tilde']);
    expect((plain.json!.virtualmachine as { displayname: string }[]).map((v) => v.displayname)).toEqual(['tilde~name']);
  });

  it('rejects an expired v3 request and accepts one that has not expired', async () => {
    const expired = await cs(['listZones', 'signatureVersion=3', 'expires=2001-01-01T00:00:00+0000']);
    expect(expired.code).toBe(1);
    expect(expired.json).toMatchObject({ errorcode: 401, errortext: 'unable to verify user credentials and/or request signature' });
    const fresh = await cs(['listZones', 'signatureVersion=3', 'expires=2999-01-01T00:00:00+0000']);
    expect(fresh.code).toBe(0);
    expect(fresh.json!.count).toBe(1);
  });
});
