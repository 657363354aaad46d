import { describe, expect, it } from 'vitest';
import { backupXml, parseBackupXml } from './backup-xml.ts';
import { newCheckpointXml, parseCheckpointXml, redefineCheckpointXml } from './checkpoint-xml.ts';
import { parseDacLabel, parseDomainDisks, parseDomInfo } from './domain-xml.ts';
import { escapeXml, parseXml, XmlError } from './xml.ts';

const DOMAIN = `<domain type='qemu' id='6'>
  <name>vm &amp; co</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/vm&apos;s/a.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/var/lib/base.qcow2'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
    </disk>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg/lv'/><target dev='vdb' bus='virtio'/><readonly/></disk>
    <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='pool/img'><host name='10.0.0.1'/></source><target dev='vdc'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
    <!-- a comment <disk> -->
  </devices>
  <seclabel type='dynamic' model='selinux'><label>x</label></seclabel>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+107</label></seclabel>
</domain>`;

describe('xml reader', () => {
  it('reads elements, attributes, entities, text; skips comments and declarations', () => {
    const x = parseXml(`<?xml version="1.0"?><!DOCTYPE x><a k="1 &lt; 2" j='&#65;&#x42;'>t&amp;u<b/><![CDATA[<raw>]]></a>`);
    expect(x).toEqual({ name: 'a', attrs: { k: '1 < 2', j: 'AB' }, text: 't&u<raw>', children: [{ name: 'b', attrs: {}, children: [], text: '' }] });
  });
  it('refuses malformed input instead of guessing', () => {
    for (const bad of ['<a><b></a>', '<a>', '<a x=1/>', '<a/><b/>', 'text', '<a>&nope;</a>', "<a x='1' x='2'/>", '']) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
    }
  });
  it('escapes both quote styles and markup; refuses control characters', () => {
    expect(escapeXml(`a'b"c<d>&e`)).toBe('a&apos;b&quot;c&lt;d&gt;&amp;e');
    expect(() => escapeXml('a\u0001')).toThrow(XmlError);
    const odd = `/srv/it's "a" <dir> & more`;
    expect(parseXml(`<x v='${escapeXml(odd)}'>${escapeXml(odd)}</x>`)).toMatchObject({ attrs: { v: odd }, text: odd });
  });
});

describe('domain XML', () => {
  it('reads every disk from its top source, never a backing store', () => {
    expect(parseDomainDisks(DOMAIN)).toEqual([
      { target: 'vda', kind: 'file', source: "/var/lib/vm's/a.qcow2", format: 'qcow2', device: 'disk', readonly: false, alias: 'virtio-disk0', index: 2 },
      { target: 'vdb', kind: 'block', source: '/dev/vg/lv', format: 'raw', device: 'disk', readonly: true },
      { target: 'vdc', kind: 'network', source: 'rbd:pool/img', format: 'raw', device: 'disk', readonly: false },
      { target: 'sda', kind: 'file', source: '', format: '', device: 'cdrom', readonly: false },
    ]);
  });
  it('finds the DAC label QEMU runs as', () => {
    expect(parseDacLabel(DOMAIN)).toEqual({ uid: 64055, gid: 107 });
    expect(parseDacLabel('<domain><devices/></domain>')).toBeUndefined();
  });
  it('reads dominfo, names with colons included', () => {
    const text = 'Id:             -\nName:           a:b\nUUID:           u-1\nState:          shut off\nPersistent:     yes\n';
    expect(parseDomInfo(text)).toEqual({ name: 'a:b', uuid: 'u-1', state: 'shutoff', persistent: true });
    expect(parseDomInfo('Id: 7\nName: x\nUUID: u\nState: paused\nPersistent: no')).toEqual({ name: 'x', uuid: 'u', state: 'paused', persistent: false, id: 7 });
    expect(parseDomInfo('Name: x')).toBeUndefined();
  });
});

describe('checkpoint and backup XML', () => {
  it('builds a new checkpoint with bitmaps only where asked', () => {
    const x = parseXml(newCheckpointXml('sendense-1', ['vda', 'vdb'], ['vda']));
    expect(x.children[1].children.map((d) => d.attrs)).toEqual([{ name: 'vda', checkpoint: 'bitmap' }, { name: 'vdb', checkpoint: 'no' }]);
  });
  it('round-trips a redefined record', () => {
    const rec = { name: 'sendense-2', creationTime: 1700000000, parent: 'sendense-1', disks: [{ target: 'vda', bitmap: 'sendense-2' }] };
    expect(parseCheckpointXml(redefineCheckpointXml(rec))).toEqual(rec);
    expect(parseCheckpointXml(redefineCheckpointXml({ ...rec, parent: undefined }))).toEqual({ name: rec.name, creationTime: rec.creationTime, disks: rec.disks });
  });
  it('reads libvirt checkpoint-dumpxml, skipping disks without a bitmap', () => {
    const xml = `<domaincheckpoint><name>sendense-cp2</name><parent><name>sendense-cp1</name></parent><creationTime>1795667106</creationTime>
      <disks><disk name='vda' checkpoint='bitmap' bitmap='sendense-cp2'/><disk name='vdb' checkpoint='no'/></disks></domaincheckpoint>`;
    expect(parseCheckpointXml(xml)).toEqual({ name: 'sendense-cp2', parent: 'sendense-cp1', creationTime: 1795667106, disks: [{ target: 'vda', bitmap: 'sendense-cp2' }] });
  });
  it('builds pull-mode backup XML with per-disk modes, scratch files and backup=no', () => {
    const xml = backupXml("/run/s'x/b.sock", ['vda', 'vdb', 'vdc'], [{ target: 'vda', incrementalFrom: 'sendense-1' }, { target: 'vdc' }],
      new Map([['vda', '/s/vda.qcow2'], ['vdc', '/s/vdc.qcow2']]));
    const b = parseXml(xml);
    expect(b.attrs).toEqual({ mode: 'pull' });
    expect(b.children[0].attrs).toEqual({ transport: 'unix', socket: "/run/s'x/b.sock" });
    expect(b.children[1].children.map((d) => [d.attrs, d.children[0]?.attrs])).toEqual([
      [{ name: 'vda', backup: 'yes', type: 'file', backupmode: 'incremental', incremental: 'sendense-1' }, { file: '/s/vda.qcow2' }],
      [{ name: 'vdb', backup: 'no' }, undefined],
      [{ name: 'vdc', backup: 'yes', type: 'file', backupmode: 'full' }, { file: '/s/vdc.qcow2' }],
    ]);
    expect(() => backupXml('/s', ['vda'], [{ target: 'vda' }], new Map())).toThrow(/scratch/);
  });
  it('reads backup-dumpxml: socket, export names, bitmaps, scratch files', () => {
    const xml = `<domainbackup mode='pull'><server transport='unix' socket='/j/b.sock'/><disks>
      <disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='sendense-cp1' exportname='vda' exportbitmap='backup-vda' index='5'>
        <driver type='qcow2'/><scratch file='/j/s/vda.qcow2'/></disk>
      <disk name='vdb' backup='yes' type='file' backupmode='full' exportname='vdb' index='6'><scratch file='/j/s/vdb.qcow2'/></disk>
      <disk name='vdc' backup='no'/></disks></domainbackup>`;
    expect(parseBackupXml(xml)).toEqual({
      socketPath: '/j/b.sock',
      mode: 'pull',
      disks: [
        { disk: 'vda', exportName: 'vda', exportBitmap: 'backup-vda', scratch: '/j/s/vda.qcow2', incremental: 'sendense-cp1' },
        { disk: 'vdb', exportName: 'vdb', scratch: '/j/s/vdb.qcow2' },
      ],
    });
  });
});
