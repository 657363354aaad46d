/**
 * @layer entry
 * The CloudStack simulator as a Hono app: `/client/api` and `/client/api/` (GET, and POST form or multipart bodies)
 * answered by dispatch.ts, and `/upload/<volume id>`, the SSVM endpoint getUploadParamsForVolume
 * hands out. createSimulator wires the runtime to its ports (in-memory hypervisor and upload
 * store unless given); nothing happens at import, and no socket is opened (see serve.ts).
 */
import { Hono, type Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { globalFetch, type HttpFetch } from '../cloudstack/port.ts';
import { ANONYMOUS_COMMANDS, COMMANDS } from './commands/index.ts';
import { handleSsvmUpload } from './commands/upload.ts';
import { handleTemplateUpload, isTemplateUpload } from './commands/templates.ts';
import { handleApiRequest } from './dispatch.ts';
import { createDirUploadStore } from './dir-upload-store.ts';
import { MemoryHypervisor, type SimHypervisor } from './hypervisor.ts';
import { SimRuntime } from './runtime.ts';
import { defaultState, parseSimState, type SimState } from './state.ts';
import { MemoryUploadStore, type UploadStore } from './upload-store.ts';

export interface SimulatorOptions {
  /** the world (a parsed SimState or the JSON of a state file); default: defaultState() */
  state?: unknown;
  /** epoch ms: signature expiry, session timeouts, dates */
  clock?: () => number;
  /** how long async jobs take (default 200 ms) */
  asyncDelayMs?: number;
  /** default: in memory, with the state's running mapped VMs running */
  hypervisor?: SimHypervisor;
  /** where uploaded images go; default: uploadDir when given, else in memory */
  uploads?: UploadStore;
  uploadDir?: string;
  /** what uploadVolume downloads with (default: global fetch) */
  fetch?: HttpFetch;
  /** the SSVM upload PSK (default: random) */
  uploadPsk?: string;
}

export interface Simulator {
  app: Hono;
  state: SimState;
  runtime: SimRuntime;
  hypervisor: SimHypervisor;
  uploads: UploadStore;
  /** an HttpFetch straight into the app, no socket (give the client any http://host/client/api) */
  fetch: HttpFetch;
  /** the first root admin's keys */
  adminKeys: { apiKey: string; secretKey: string };
  /** a user's keys by username */
  keysOf(username: string): { apiKey: string; secretKey: string };
  /** resolves when every job and background upload has finished */
  idle(): Promise<void>;
}

export function createSimulator(opts: SimulatorOptions = {}): Simulator {
  const state = opts.state === undefined ? defaultState() : parseSimState(opts.state);
  let hypervisor = opts.hypervisor;
  if (!hypervisor) {
    const mem = new MemoryHypervisor();
    for (const vm of state.vms) if (vm.libvirtDomain) { mem.defined.add(vm.libvirtDomain); if (vm.state === 'Running') mem.running.add(vm.libvirtDomain); }
    hypervisor = mem;
  }
  const uploads = opts.uploads ?? (opts.uploadDir ? createDirUploadStore(opts.uploadDir) : new MemoryUploadStore());
  const runtime = new SimRuntime({
    state, now: opts.clock ?? Date.now, asyncDelayMs: opts.asyncDelayMs ?? 200, hypervisor, uploads,
    fetch: opts.fetch ?? globalFetch, uploadPsk: opts.uploadPsk,
  });

  const app = new Hono();
  // CloudStack's own UI calls /client/api/ (trailing slash); clients such as cs use /client/api
  const api = async (c: Context) => {
    const url = new URL(c.req.url);
    const ctype = c.req.header('content-type') ?? '';
    let form: string | Record<string, string> | undefined;
    if (c.req.method === 'POST') {
      if (ctype.startsWith('multipart/form-data')) {
        form = {};
        for (const [k, v] of (await c.req.formData()).entries()) if (typeof v === 'string' && !(k in form)) form[k] = v;
      } else {
        form = await c.req.text();
      }
    }
    const res = await handleApiRequest(runtime, { commands: COMMANDS, anonymous: ANONYMOUS_COMMANDS }, {
      method: c.req.method, query: url.search.slice(1), form, cookies: getCookie(c), origin: url.origin,
    });
    const headers = new Headers({ 'content-type': res.contentType });
    for (const sc of res.setCookies) headers.append('set-cookie', sc);
    return new Response(res.body, { status: res.status, headers });
  };
  app.all('/client/api', api);
  app.all('/client/api/', api);

  app.post('/upload/:id', async (c) => {
    const url = new URL(c.req.url);
    const len = c.req.header('content-length');
    const r = await (isTemplateUpload(runtime, c.req.param('id')) ? handleTemplateUpload : handleSsvmUpload)(runtime, {
      volumeId: c.req.param('id'),
      proto: url.protocol.replace(':', ''),
      host: c.req.header('x-forwarded-host') ?? url.host,
      headers: {
        signature: c.req.header('x-signature'), metadata: c.req.header('x-metadata'), expires: c.req.header('x-expires'),
        contentLength: len === undefined ? undefined : Number(len),
      },
      file: async () => {
        // CloudStack takes the first file part, whatever its field name (clients send files[])
        for (const [, v] of (await c.req.formData()).entries()) {
          if (typeof v !== 'string') return { name: v.name, stream: v.stream() };
        }
        return undefined;
      },
    });
    return c.text(r.text, r.status as 200);
  });
  app.all('/upload/:id', (c) => c.text('only post requests are allowed', 400));

  const admin = state.users.find((u) => u.apiKey && u.secretKey && state.accounts.find((a) => a.id === u.accountId)?.type === 1);
  const keysOf = (username: string) => {
    const u = state.users.find((x) => x.username === username);
    if (!u?.apiKey || !u.secretKey) throw new Error(`[cloudstack-sim] user ${username} has no API keys`);
    return { apiKey: u.apiKey, secretKey: u.secretKey };
  };
  return {
    app, state, runtime, hypervisor, uploads,
    fetch: async (url, init) => app.fetch(new Request(url, { ...init, duplex: 'half' } as RequestInit)),
    adminKeys: admin ? { apiKey: admin.apiKey!, secretKey: admin.secretKey! } : { apiKey: '', secretKey: '' },
    keysOf,
    idle: () => runtime.idle(),
  };
}
