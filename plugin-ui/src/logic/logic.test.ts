/**
 * The plug-in's pure logic: the SSE parser (split chunks, comments, CRLF), hash routes, the
 * overview's figures, the per-disk timeline, the policy form's checks and body, formatting.
 */
import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.ts';
import { href, parseRoute } from './route.ts';
import { timeline } from './timeline.ts';
import { policyForm, policyProblems, toPolicyBody } from './policy-form.ts';
import { bytes, duration, fmt, transfer } from './format.ts';
import { cloudStackSessionKey } from './sso.ts';

describe('SseParser', () => {
  it('reassembles events across chunks, skips keep-alive comments, joins data lines, takes CRLF', () => {
    const p = new SseParser();
    expect(p.push('event: job\ndata: {"a"')).toEqual([]);
    expect(p.push(':1}\nid: 0\n\n: keep-alive\n\n')).toEqual([{ event: 'job', data: '{"a":1}', id: '0' }]);
    expect(p.push('data: x\r\ndata: y\r\n\r\nevent: end\ndata: {}\n\n')).toEqual([{ event: 'message', data: 'x\ny', id: '0' }, { event: 'end', data: '{}', id: '0' }]);
  });
});

describe('routes', () => {
  it('parses and builds hash routes', () => {
    expect(parseRoute('#/vms/abc?x=1')).toEqual({ view: 'vm', id: 'abc', query: { x: '1' } });
    expect(parseRoute('#/history?status=failed')).toEqual({ view: 'history', query: { status: 'failed' } });
    expect(parseRoute('')).toEqual({ view: 'overview', query: {} });
    expect(parseRoute('#/nonsense')).toEqual({ view: 'overview', query: {} });
    expect(parseRoute('#/vm')).toEqual({ view: 'overview', query: {} });
    expect(href({ view: 'vms', query: { search: 'a b', page: 2, empty: '' } })).toBe('#/vms?search=a+b&page=2');
    expect(href({ view: 'vm', id: 'x/y' })).toBe('#/vms/x%2Fy');
    expect(parseRoute(href({ view: 'vm', id: 'x/y' }))).toEqual({ view: 'vm', id: 'x/y', query: {} });
  });
});

describe('timeline', () => {
  it('one lane per disk, oldest first', () => {
    const p = (id: string, at: string, types: ['full' | 'incremental', 'full' | 'incremental']) => ({
      id, pointId: id, createdAt: at, verificationStatus: 'verified', sourcePlatform: 'cloudstack',
      disks: [{ target: 'vdb', type: types[1], fileSizeBytes: 2 }, { target: 'vda', type: types[0], fileSizeBytes: 1 }],
    });
    const lanes = timeline([p('2', '2026-12-01T02:00:00Z', ['incremental', 'full']), p('1', '2026-12-01T01:00:00Z', ['full', 'full'])]);
    expect(lanes.map((l) => l.disk)).toEqual(['vda', 'vdb']);
    expect(lanes[0].points.map((x) => [x.pointId, x.type])).toEqual([['1', 'full'], ['2', 'incremental']]);
    expect(lanes[1].points.map((x) => x.type)).toEqual(['full', 'full']);
  });
});

describe('policy form', () => {
  it('checks fields as typed and builds the body', () => {
    const f = { ...policyForm(), name: 'gold', keepLast: '', schedule: '0 2 * *' };
    expect(policyProblems(f, 'schedule')[0]).toContain('5 or 6 fields');
    expect(policyProblems(f, 'keepLast')).toEqual(['at least one retention rule']);
    const g = { ...f, schedule: '0 2 * * *', keepDaily: '7', fullEvery: 'x' };
    expect(policyProblems(g)).toEqual(['a whole number of 1 or more']);
    const h = { ...g, fullEvery: '7', verifySchedule: ' ' };
    expect(policyProblems(h)).toEqual([]);
    expect(toPolicyBody(h)).toMatchObject({ name: 'gold', schedule: '0 2 * * *', fullEvery: 7, retention: { keepDaily: 7 }, verifySchedule: null });
  });
});

describe('format', () => {
  it('sizes, durations, placeholders, rates', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1536)).toMatch(/^1[.,]5 KiB$/);
    expect(bytes(null)).toBe('—');
    expect(duration(59)).toBe('59 s');
    expect(duration(3725)).toBe('1 h 2 min');
    expect(fmt('{a} of {b} {c}', { a: 1, b: 'x' })).toBe('1 of x {c}');
    const t = transfer(50, 100, '2026-12-01T00:00:00Z', new Date('2026-12-01T00:00:10Z'));
    expect(t).toEqual({ rate: 5, eta: 10 });
    expect(transfer(0, 100, null).eta).toBeNull();
  });
});

describe('single sign-on', () => {
  it('reads the sessionkey CloudStack\'s UI keeps, and nothing else', () => {
    expect(cloudStackSessionKey(() => '{"value":"abc123","expire":null}')).toBe('abc123');
    expect(cloudStackSessionKey(() => null)).toBeUndefined();
    expect(cloudStackSessionKey(() => '{"value":""}')).toBeUndefined();
    expect(cloudStackSessionKey(() => 'not json')).toBeUndefined();
    expect(cloudStackSessionKey(() => { throw new DOMException('denied', 'SecurityError'); })).toBeUndefined();
  });
});
