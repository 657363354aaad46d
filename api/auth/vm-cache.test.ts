/**
 * The Authorizer's short memory of CloudStack's VM answers: a read reuses an answer younger than
 * vmCacheMs (ownership still decided per principal), a change always asks CloudStack, failures
 * are never remembered, and a VM that changed hands is refused to its old owner once the answer
 * has aged out.
 */
import { describe, expect, it } from 'vitest';
import { CloudStackError } from '../cloudstack/errors.ts';
import type { VirtualMachine } from '../cloudstack/schemas.ts';
import { Authorizer } from './authorize.ts';
import type { Principal } from './principal.ts';

const alice: Principal = { userId: 'u1', username: 'alice', account: 'alice', domainId: 'd1', role: 'user', via: 'token' };
const bob: Principal = { ...alice, userId: 'u2', username: 'bob', account: 'bob' };

function world() {
  let now = 1_000_000;
  const owner = new Map<string, string>([['vm1', 'alice']]);
  let calls = 0;
  let down = false;
  const cs = {
    async getVirtualMachine(id: string): Promise<VirtualMachine> {
      calls++;
      if (down) throw new CloudStackError({ kind: 'network', command: 'listVirtualMachines', errortext: 'connection refused' });
      const account = owner.get(id);
      if (!account) throw new CloudStackError({ kind: 'notfound', command: 'listVirtualMachines', errortext: `no VM ${id}` });
      return { id, name: id, account, domainid: 'd1' } as VirtualMachine;
    },
    async listAll() { return []; },
  };
  const authz = new Authorizer({ cs: cs as never, vmCacheMs: 5_000, clock: () => now });
  return { authz, owner, calls: () => calls, tick: (ms: number) => { now += ms; }, setDown: (d: boolean) => { down = d; } };
}

describe('Authorizer: VM answers reused by reads for vmCacheMs', () => {
  it('reads share one CloudStack answer; changes ask every time', async () => {
    const w = world();
    for (let i = 0; i < 5; i++) await w.authz.vm(alice, 'vm1', { read: true });
    expect(w.calls()).toBe(1);
    await w.authz.vm(alice, 'vm1');
    await w.authz.vm(alice, 'vm1');
    expect(w.calls()).toBe(3);
    // the cached answer still decides per principal
    await expect(w.authz.vm(bob, 'vm1', { read: true })).rejects.toMatchObject({ code: 'forbidden' });
    expect(w.calls()).toBe(3);
  });

  it('a VM given to another account: the old owner is refused once the answer is older than vmCacheMs, at once for changes', async () => {
    const w = world();
    await w.authz.vm(alice, 'vm1', { read: true });
    w.owner.set('vm1', 'bob');
    await expect(w.authz.vm(alice, 'vm1')).rejects.toMatchObject({ code: 'forbidden' });
    // the fresh answer replaced the cached one
    await expect(w.authz.vm(alice, 'vm1', { read: true })).rejects.toMatchObject({ code: 'forbidden' });
    w.owner.set('vm1', 'alice');
    w.tick(4_999);
    await expect(w.authz.vm(alice, 'vm1', { read: true })).rejects.toMatchObject({ code: 'forbidden' });
    w.tick(2);
    await expect(w.authz.vm(alice, 'vm1', { read: true })).resolves.toMatchObject({ account: 'alice' });
  });

  it('failures are not remembered, and a failure forgets the old answer', async () => {
    const w = world();
    await w.authz.vm(alice, 'vm1', { read: true });
    w.setDown(true);
    await expect(w.authz.vm(alice, 'vm1')).rejects.toMatchObject({ code: 'unavailable' });
    await expect(w.authz.vm(alice, 'vm1', { read: true })).rejects.toMatchObject({ code: 'unavailable' });
    w.setDown(false);
    w.owner.delete('vm1');
    await expect(w.authz.vm(alice, 'vm1', { read: true })).rejects.toThrow(/VM vm1 not found/);
    w.owner.set('vm1', 'alice');
    await expect(w.authz.vm(alice, 'vm1', { read: true })).resolves.toMatchObject({ id: 'vm1' });
  });
});
