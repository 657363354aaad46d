import { describe, expect, it } from 'vitest';
import { parseImageInfo, parseNodeBitmaps } from './bitmap-info.ts';
import { classifyLibvirtError, libvirtReason } from './libvirt-errors.ts';
import { assertSendenseName, HypervisorError } from './port.ts';

describe('bitmap state', () => {
  it("maps a stopped image's flags: auto = recording, in-use = inconsistent", () => {
    const info = parseImageInfo(JSON.stringify({
      format: 'qcow2', 'virtual-size': 16777216,
      'format-specific': { type: 'qcow2', data: { bitmaps: [
        { flags: ['in-use', 'auto'], name: 'sendense-x', granularity: 65536 },
        { flags: ['auto'], name: 'sendense-y', granularity: 65536 },
        { flags: [], name: 'disabled', granularity: 131072 },
      ] } },
    }));
    expect(info.format).toBe('qcow2');
    expect(info.virtualSize).toBe(16777216);
    expect(info.bitmaps.map((b) => [b.name, b.recording, b.inconsistent, b.granularity])).toEqual([
      ['sendense-x', true, true, 65536], ['sendense-y', true, false, 65536], ['disabled', false, false, 131072],
    ]);
    expect(parseImageInfo('{"format":"raw","virtual-size":1}').bitmaps).toEqual([]);
  });

  it('reads a running disk from its format node; skips anonymous job bitmaps and filter nodes', () => {
    const reply = JSON.stringify({ return: [
      { 'node-name': '#block479', drv: 'copy-before-write', file: '/v/vda.qcow2', 'dirty-bitmaps': [{ recording: false, persistent: false, busy: false, granularity: 65536, count: 0 }] },
      { 'node-name': 'libvirt-2-format', drv: 'qcow2', file: '/v/vda.qcow2', 'dirty-bitmaps': [
        { name: 'sendense-k1', recording: false, persistent: true, busy: false, granularity: 65536, count: 0, inconsistent: true },
        { recording: false, persistent: false, busy: false, granularity: 65536, count: 1 },
        { name: 'sendense-k2', recording: true, persistent: true, busy: true, granularity: 65536, count: 5 },
      ] },
      { 'node-name': 'libvirt-2-storage', drv: 'file', file: '/v/vda.qcow2' },
    ] });
    const want = [
      { name: 'sendense-k1', granularity: 65536, recording: false, busy: false, inconsistent: true, persistent: true },
      { name: 'sendense-k2', granularity: 65536, recording: true, busy: true, inconsistent: false, persistent: true },
    ];
    expect(parseNodeBitmaps(reply, { nodeName: 'libvirt-2-format', file: '/v/vda.qcow2' })).toEqual(want);
    expect(parseNodeBitmaps(reply, { file: '/v/vda.qcow2' })).toEqual(want);
    expect(parseNodeBitmaps(reply, { file: '/v/other.qcow2' })).toBeUndefined();
    expect(() => parseNodeBitmaps('{"error":{"desc":"nope"}}', { file: 'x' })).toThrow(/nope/);
  });
});

describe('libvirt error wording', () => {
  it.each([
    ["error: failed to get domain 'x'", 'not-found'],
    ['error: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainBackupBegin)', 'job-active'],
    ["error: checkpoint inconsistent: missing or broken bitmap 'sendense-cp1' for disk 'vda'", 'bitmap-inconsistent'],
    ["error: internal error: unable to execute QEMU command 'transaction': Bitmap already exists: sendense-cp1", 'bitmap-exists'],
    ["error: Domain checkpoint not found: Checkpoint 'sendense-nope' for incremental backup of disk 'vda' not found", 'checkpoint-missing'],
    ["error: Domain checkpoint not found: no domain checkpoint with matching name 'x'", 'checkpoint-missing'],
    ['error: unsupported configuration: checkpoint for disk vdb unsupported for storage type raw', 'unsupported'],
    ['error: Requested operation is not valid: domain is not running', 'not-running'],
    ['qemu-img: Could not open \'/x\': Failed to get "write" lock', 'busy'],
    ['error: something new', 'libvirt'],
  ])('%s → %s', (stderr, code) => {
    expect(classifyLibvirtError(stderr)).toBe(code);
  });
  it('keeps the reason, without the error: prefixes', () => {
    expect(libvirtReason('error: Unable to freeze filesystems\nerror: argument unsupported: QEMU guest agent is not configured\n'))
      .toBe('Unable to freeze filesystems: argument unsupported: QEMU guest agent is not configured');
  });
});

describe('the sendense- namespace', () => {
  it('accepts sendense- names and refuses everything else with a typed error', () => {
    expect(() => assertSendenseName('sendense-20250101-120000')).not.toThrow();
    for (const [n, code] of [['cloudstack-x', 'prefix'], ['sendense-', 'prefix'], ['Sendense-x', 'prefix'], ["sendense-a'b", 'invalid'], ['sendense-a/b', 'invalid']] as const) {
      try {
        assertSendenseName(n);
        throw new Error(`${n} accepted`);
      } catch (e) {
        expect(e).toBeInstanceOf(HypervisorError);
        expect((e as HypervisorError).code).toBe(code);
      }
    }
  });
});
