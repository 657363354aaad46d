import { defineConfig } from 'vitest/config';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

export default defineConfig({
  root,
  test: {
    include: ['agent/**/*.test.ts', 'api/**/*.test.ts', 'db/**/*.test.ts', 'test/**/*.test.ts', 'packaging/**/*.test.ts', 'plugin-ui/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'plugin-ui/**/node_modules/**'],
    globalSetup: ['test/lab/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
