import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAgentConfig } from './serve-config.ts';
import { UsageError } from './args.ts';

describe('agent config file', () => {
  it('reads the packaged /etc/sendense/agent.json', () => {
    const file = path.resolve(import.meta.dirname, '../../packaging/files/agent.json');
    expect(parseAgentConfig(readFileSync(file, 'utf8'), file)).toEqual({
      socket: '/run/sendense/agent.sock', socketOwner: 'sendense', journal: '/var/lib/sendense-agent/journal',
      workDir: '/var/lib/sendense-agent/jobs', concurrency: 2,
    });
  });
  it('names a mistyped key, a bad value and broken JSON', () => {
    expect(() => parseAgentConfig('{"sockett": "/x"}', 'a.json')).toThrow(/a\.json: .*sockett/);
    expect(() => parseAgentConfig('{"concurrency": 0}', 'a.json')).toThrow(/concurrency/);
    expect(() => parseAgentConfig('{"socket": "rel/x"}', 'a.json')).toThrow(/socket: must be an absolute path/);
    expect(() => parseAgentConfig('{', 'a.json')).toThrow(UsageError);
  });
});
