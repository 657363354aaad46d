import { afterAll } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { labDir, labName } from '../../test/lab/paths.ts';
import { imageSinkContract, randomAccessContract } from './contract.ts';
import { MemoryImageSink, MemoryRandomAccess } from './port.ts';
import { FileImageSink } from './file-sink.ts';
import { FileRandomAccess } from './file-access.ts';

const dir = labDir('qcow2', labName('adapters'));
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers) await c();
  await rm(dir, { recursive: true, force: true });
});

imageSinkContract('memory', async () => {
  const sink = new MemoryImageSink();
  return { sink, contents: async () => sink.toBuffer() };
});

imageSinkContract('file', async () => {
  const file = path.join(dir, labName('sink'));
  const sink = await FileImageSink.create(file);
  closers.push(() => sink.close());
  return {
    sink,
    contents: async () => {
      await sink.close();
      return readFile(file);
    },
  };
});

randomAccessContract('memory', async (data) => new MemoryRandomAccess(data));

randomAccessContract('file', async (data) => {
  const file = path.join(dir, labName('ra'));
  await writeFile(file, data);
  const ra = await FileRandomAccess.open(file);
  closers.push(() => ra.close());
  return ra;
});
