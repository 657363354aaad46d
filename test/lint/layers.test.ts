import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lint } from './layers.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lint-'));
  for (const [p, src] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), src);
  }
  return root;
}

describe('layering lint', () => {
  it('accepts a clean tree', () => {
    const root = tree({
      'agent/a/logic.ts': '/** @layer logic */\nexport const x = 1;\n',
      'agent/a/port.ts': "/** @layer port */\nimport { x } from './logic.ts';\nexport type P = typeof x;\n",
      'agent/a/uc.ts': "/** @layer usecase */\nimport type { P } from './port.ts';\nexport const u = (p: P) => p;\n",
      'agent/a/ad.ts': "/** @layer adapter */\nimport fs from 'node:fs';\nimport { x } from './logic.ts';\nexport const a = fs && x;\n",
      'agent/a/main.ts': "/** @layer entry */\nimport { a } from './ad.ts';\nimport { u } from './uc.ts';\nu(a as never);\n",
    });
    expect(lint(root)).toEqual([]);
  });
  it('rejects I/O in logic, adapters in use cases and a missing layer', () => {
    const root = tree({
      'agent/a/logic.ts': "/** @layer logic */\nimport { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
      'agent/a/ad.ts': '/** @layer adapter */\nexport const a = 1;\n',
      'agent/a/uc.ts': "/** @layer usecase */\nimport { a } from './ad.ts';\nexport const u = a;\n",
      'api/b/none.ts': 'export const n = 1;\n',
    });
    const p = lint(root);
    expect(p).toHaveLength(3);
    expect(p.join('\n')).toMatch(/logic must not import the I\/O module 'node:fs'/);
    expect(p.join('\n')).toMatch(/usecase must not import adapter/);
    expect(p.join('\n')).toMatch(/none.ts: no '@layer/);
  });
  it('testing files: only tests and other testing files use them; product code imports no untagged file', () => {
    const root = tree({
      'agent/a/port.ts': '/** @layer port */\nexport interface P { n: number }\n',
      'agent/a/contract.ts': "/** @layer testing */\nimport { it } from 'vitest';\nimport type { P } from './port.ts';\nimport { rnd } from '../../test/lab/random.ts';\nexport const suite = (p: P) => it('x', () => void p.n + rnd);\n",
      'agent/a/uses-suite.ts': "/** @layer usecase */\nimport { suite } from './contract.ts';\nexport const s = suite;\n",
      'agent/a/runner.ts': "/** @layer adapter */\nimport { describe } from 'vitest';\nexport const d = describe;\n",
      'agent/a/leans.ts': "/** @layer entry */\nimport { rnd } from '../../test/lab/random.ts';\nimport { t } from './x.test.ts';\nexport const r = rnd + t;\n",
      'agent/a/x.test.ts': 'export const t = 1;\n',
      'test/lab/random.ts': 'export const rnd = 4;\n',
    });
    const p = lint(root).join('\n');
    expect(p).toMatch(/uses-suite.ts: usecase must not import testing/);
    expect(p).toMatch(/runner.ts: adapter must not import the test runner 'vitest'/);
    expect(p).toMatch(/leans.ts: imports test\/lab\/random.ts, which declares no @layer/);
    expect(p).toMatch(/leans.ts: imports agent\/a\/x.test.ts, which declares no @layer/);
    expect(p).not.toMatch(/^agent\/a\/contract.ts:/m);
    expect(lint(root)).toHaveLength(4);
  });
});
