/**
 * @layer logic
 * CloudStack's response envelopes (ApiResponseSerializer), JSON and XML:
 *
 *   object  {"<cmd>response":{"<objectname>":{…}}}     (or the fields directly, e.g. login)
 *   list    {"<cmd>response":{"count":N,"<item>":[…]}}; an empty list is {"<cmd>response":{}};
 *           a page past the end keeps the count: {"<cmd>response":{"count":N}}
 *   async   {"<cmd>response":{"jobid":"…"}} (create commands: {"id":"…","jobid":"…"})
 *   error   {"<cmd>response":{"uuidList":[],"errorcode":431,"cserrorcode":4350,"errortext":"…"}}
 *
 * The response name is the command lowercased + "response", except where CloudStack names it
 * otherwise (getUploadParamsForVolume answers as postuploadvolumeresponse); unknown commands
 * answer as errorresponse.
 */
import type { View } from './views.ts';

export type Reply =
  | { kind: 'object'; objectName?: string; body: View }
  | { kind: 'list'; itemName: string; items: View[]; count: number }
  | { kind: 'async'; jobid: string; id?: string };

export type ResponseType = 'json' | 'xml';

export const JSON_CONTENT_TYPE = 'application/json; charset=UTF-8';
export const XML_CONTENT_TYPE = 'text/xml; charset=UTF-8';

export function replyBody(reply: Reply): View {
  switch (reply.kind) {
    case 'object': return reply.objectName ? { [reply.objectName]: reply.body } : reply.body;
    case 'async': return reply.id !== undefined ? { id: reply.id, jobid: reply.jobid } : { jobid: reply.jobid };
    case 'list':
      if (reply.count === 0) return {};
      return reply.items.length ? { count: reply.count, [reply.itemName]: reply.items } : { count: reply.count };
  }
}

export function errorBody(errorcode: number, errortext: string, cserrorcode?: number): View {
  return { uuidList: [], errorcode, ...(cserrorcode !== undefined ? { cserrorcode } : {}), errortext };
}

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

function xmlElement(name: string, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => xmlElement(name, v)).join('');
  if (typeof value === 'object') return `<${name}>${Object.entries(value).map(([k, v]) => xmlElement(k, v)).join('')}</${name}>`;
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export function serialize(responseName: string, body: View, type: ResponseType, version: string): string {
  if (type === 'json') return JSON.stringify({ [responseName]: body });
  const inner = Object.entries(body).map(([k, v]) => xmlElement(k, v)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><${responseName} cloud-stack-version="${version}">${inner}</${responseName}>`;
}
