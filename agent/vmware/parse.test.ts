import { describe, expect, it } from 'vitest';
import { ovfXml } from '../../test/vmware/fixture.ts';
import { changedExtents } from './changed-blocks.ts';
import { parseMf, checkMf } from './mf.ts';
import { parseOvf } from './ovf.ts';
import { parseTarHeader } from './tar.ts';
import { normalizeUuid, unitBytes } from './units.ts';
import { parseDescriptor, streamTailProblems } from './vmdk.ts';
import { parseVmx } from './vmx.ts';

const vm = {
  name: 'app', biosUuid: '42 1c 5b 2e 8c 3b 3c 9e-4b 31 0d 61 a2 55 2b 97', osType: 'windows2019srv_64Guest', cpus: 4, memoryMiB: 4096, firmware: 'bios' as const,
  disks: [{ id: 'd1', file: 'app-1.vmdk', capacity: 2 ** 30, fileSize: 1000, controller: 'sata' as const, unit: 2 }],
  nics: [{ network: 'LAN', type: 'E1000e' }],
};

describe('OVF descriptor', () => {
  it('reads the DMTF items and VMware extensions', () => {
    const d = parseOvf(ovfXml(vm), 'app.ovf');
    expect(d.vm).toMatchObject({ name: 'app', bios_uuid: '421c5b2e-8c3b-3c9e-4b31-0d61a2552b97', instance_uuid: null, guest_os_id: 'windows2019srv_64Guest', cpus: 4, memory_mib: 4096, firmware: 'bios' });
    expect(d.vm.disks).toEqual([{ key: 'd1', file: 'app-1.vmdk', controller: 'sata', controller_model: 'ahci', bus: 0, unit: 2, capacity: 2 ** 30, vmdk_format: 'streamOptimized' }]);
    expect(d.vm.nics).toEqual([{ network: 'LAN', adapter_type: 'e1000e', mac: null }]);
    expect(d.files).toEqual([{ id: 'file-d1', href: 'app-1.vmdk', size: 1000 }]);
  });
  it('refuses what a restore cannot do without, naming the file', () => {
    expect(() => parseOvf(ovfXml(vm).replace(/<rasd:ResourceType>3<\/rasd:ResourceType>/, '<rasd:ResourceType>99</rasd:ResourceType>'), 'app.ovf')).toThrow(/app\.ovf: no CPU item \(ResourceType 3\)/);
    expect(() => parseOvf(ovfXml(vm).slice(0, 2000), 'app.ovf')).toThrow(/app\.ovf: not well-formed XML/);
    expect(() => parseOvf(ovfXml(vm).replaceAll('http://schemas.dmtf.org/ovf/envelope/1"', 'urn:x"'), 'app.ovf')).toThrow(/DMTF OVF namespace/);
    expect(() => parseOvf(ovfXml(vm).replace('ovf:href="app-1.vmdk"', 'ovf:href="../etc/passwd"'), 'app.ovf')).toThrow(/only plain file names/);
  });
});

describe('manifest, tar, units, VMDK text, vmx', () => {
  it('.mf lines, both algorithms; a bad line or a mismatch refused', () => {
    const e = parseMf(`SHA256(a.ovf)= ${'a'.repeat(64)}\nSHA1(b.vmdk)= ${'b'.repeat(40)}\n`, 'x.mf');
    expect(e.map((x) => x.algorithm)).toEqual(['sha256', 'sha1']);
    expect(() => parseMf('MD5(a)= 00', 'x.mf')).toThrow(/x\.mf: line 1 is not/);
    expect(() => parseMf(`SHA1(a)= ${'a'.repeat(64)}`, 'x.mf')).toThrow(/SHA1 digest has 40 hex digits/);
    expect(() => checkMf(e, 'x.mf', () => 'c'.repeat(64))).toThrow(/a\.ovf: its SHA256 is c+, the manifest x\.mf says a+/);
    expect(() => checkMf(e, 'x.mf', () => undefined)).toThrow(/a\.ovf: the manifest x\.mf lists it, but the export has no such file/);
  });
  it('tar headers: checksum checked, end found', () => {
    const h = Buffer.alloc(512);
    h.write('disk.vmdk', 0);
    h.write('0000644\0', 100);
    h.write('00000001000\0', 124);
    h.write('ustar\0', 257);
    h[156] = 48;
    h.fill(32, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    expect(parseTarHeader(h)).toEqual({ kind: 'entry', name: 'disk.vmdk', size: 512, type: '0' });
    h[0] = 0x44;
    expect(parseTarHeader(h)).toMatchObject({ kind: 'bad' });
    expect(parseTarHeader(Buffer.alloc(512))).toEqual({ kind: 'end' });
  });
  it('units and UUIDs', () => {
    expect(unitBytes('byte * 2^30')).toBe(2 ** 30);
    expect(unitBytes('MegaBytes')).toBe(2 ** 20);
    expect(unitBytes('furlongs')).toBeUndefined();
    expect(normalizeUuid('56 4d 12 34 56 78 9a bc-de f0 12 34 56 78 9a bc')).toBe('564d1234-5678-9abc-def0-123456789abc');
  });
  it('a VMDK descriptor and a stream footer', () => {
    const d = parseDescriptor('# Disk DescriptorFile\nversion=1\nCID=1d4084d5\nparentCID=8ba7870d\ncreateType="monolithicSparse"\nparentFileNameHint="a.vmdk"\nRW 16384 SPARSE "a-000001.vmdk"\nddb.adapterType = "lsilogic"\n');
    expect(d).toMatchObject({ createType: 'monolithicSparse', cid: '1d4084d5', parentCid: '8ba7870d', parentFileNameHint: 'a.vmdk', capacity: 8 << 20, ddb: { 'ddb.adapterType': 'lsilogic' } });
    expect(() => parseDescriptor('version=1\nRW 1 FLAT "x" 0\n')).toThrow(/no createType/);
    expect(streamTailProblems(Buffer.alloc(1536))).toEqual(['no footer before the end-of-stream marker: the file is cut short or damaged']);
  });
  it('.vmx: disks in order, CD-ROMs and absent devices left out', () => {
    const v = parseVmx('displayName = "x"\nmemsize = "1024"\nnumvcpus = "2"\nsata0:1.present = "TRUE"\nsata0:1.fileName = "b.vmdk"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "a.vmdk"\nscsi0:1.present = "FALSE"\nscsi0:1.fileName = "gone.vmdk"\nide1:0.present = "TRUE"\nide1:0.deviceType = "cdrom-image"\nide1:0.fileName = "x.iso"\n', 'x.vmx');
    expect(v.disks.map((d) => [d.key, d.file, d.controller_model])).toEqual([['scsi0:0', 'a.vmdk', 'lsilogic'], ['sata0:1', 'b.vmdk', 'ahci']]);
    expect(() => parseVmx('displayName = "x"\nmemsize = "1"\n', 'x.vmx')).toThrow(/x\.vmx: names no hard disk/);
  });
  it('changed blocks as dirty extents', () => {
    expect(changedExtents([3, 1, 2, 7], 10, 75)).toEqual([
      { offset: 0, length: 10, flags: 0 }, { offset: 10, length: 30, flags: 1 }, { offset: 40, length: 30, flags: 0 }, { offset: 70, length: 5, flags: 1 },
    ]);
  });
});
