import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { agentsCommand } from './agents.ts';
import { foldEvent, renderLine, type HostLine } from '../agents/deploy/progress.ts';

async function runCli(argv: string[]): Promise<{ code: number; err: string; out: string }> {
  let err = '';
  let out = '';
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  try {
    return { code: await agentsCommand(argv), err, out };
  } finally { e.mockRestore(); o.mockRestore(); }
}

describe('sendense agents (command line)', () => {
  it('refuses bad usage with exit 2 and says what to give', async () => {
    expect(await runCli(['frobnicate'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown verb 'frobnicate'/) });
    expect(await runCli(['deploy'])).toMatchObject({ code: 2, err: expect.stringMatching(/give --ssh-key FILE or --ssh-password-file FILE/) });
    expect(await runCli(['deploy', '--ssh-key', '/k', '--accept', 'kvm1=md5:aa'])).toMatchObject({ code: 2, err: expect.stringMatching(/--accept kvm1=md5:aa: give HOST=SHA256:/) });
    expect(await runCli(['deploy', '--ssh-key', '/k', '--concurrency', '0'])).toMatchObject({ code: 2, err: expect.stringMatching(/--concurrency must be a whole number/) });
    expect(await runCli(['status', '--ssh-key', '/k', '--config', '/nonexistent/sendense.json'])).toMatchObject({ code: 2, err: expect.stringMatching(/ENOENT|nonexistent/) });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-agents-cli-'));
    const cfg = path.join(dir, 'c.json');
    writeFileSync(cfg, JSON.stringify({ cloudstack: { endpoint: 'https://cs.example.invalid/client/api', apiKey: 'k', secretKey: 's' }, auth: { tokenSecret: 'x'.repeat(40) }, repositories: [{ name: 'r', url: '/srv/r' }], agents: { deploy: { packagesDir: path.join(dir, 'none') } } }));
    expect(await runCli(['deploy', '--ssh-key', '/k', '--config', cfg])).toMatchObject({ code: 2, err: expect.stringMatching(/cannot read the agent packages' directory .*none/) });
    expect((await runCli(['--help'])).out).toMatch(/sendense agents deploy/);
  });

  it('draws a bar per host and the outcome once a host is done', () => {
    const lines = new Map<string, HostLine>();
    foldEvent(lines, { type: 'host', host: 'kvm1', step: 'upload', fraction: 0.5, message: 'x.deb (31.5 MiB)' });
    expect(renderLine(lines.get('kvm1')!, 10, 6)).toBe('kvm1   [#####.....] upload x.deb (31.5 MiB)');
    foldEvent(lines, { type: 'row', row: { name: 'kvm1', address: '10.0.0.1', outcome: 'failed', code: 'disk-full', message: '[deploy] kvm1: only 20 MiB free', changed: [], durationMs: 1 } });
    foldEvent(lines, { type: 'host', host: 'kvm1', step: 'finished', fraction: 1 });
    expect(renderLine(lines.get('kvm1')!, 10, 6)).toBe('kvm1   [##########] FAILED disk-full: kvm1: only 20 MiB free');
  });
});
