/**
 * @layer logic
 * The OVF manifest (`.mf`, DSP0243 §5.1): one line per file, `SHA1(name)= hex` or
 * `SHA256(name)= hex` (ovftool and the vSphere client write both, SHA256 since 6.5; SHA512 is
 * read too). Every file a manifest names must match before anything is recorded; a line that is
 * not of this form is refused, not skipped.
 */
import { VmwareError } from './errors.ts';

export type MfAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface MfEntry {
  file: string;
  algorithm: MfAlgorithm;
  digest: string;
}

const LINE = /^(SHA1|SHA256|SHA512)\(([^()]+)\)\s*=\s*([0-9a-fA-F]+)\s*$/;
const HEX_LEN: Record<MfAlgorithm, number> = { sha1: 40, sha256: 64, sha512: 128 };

export function parseMf(textIn: string, file: string): MfEntry[] {
  const out: MfEntry[] = [];
  for (const [i, raw] of textIn.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line) continue;
    const m = LINE.exec(line);
    if (!m) throw new VmwareError('invalid', file, `line ${i + 1} is not 'SHA256(file)= digest' (got ${JSON.stringify(line.slice(0, 80))}); the manifest is damaged`);
    const algorithm = m[1].toLowerCase() as MfAlgorithm;
    if (m[3].length !== HEX_LEN[algorithm]) throw new VmwareError('invalid', file, `line ${i + 1}: a ${m[1]} digest has ${HEX_LEN[algorithm]} hex digits, this one ${m[3].length}; the manifest is damaged`);
    if (out.some((e) => e.file === m[2].trim())) throw new VmwareError('invalid', file, `names ${m[2].trim()} twice`);
    out.push({ file: m[2].trim(), algorithm, digest: m[3].toLowerCase() });
  }
  if (!out.length) throw new VmwareError('invalid', file, 'the manifest lists no file');
  return out;
}

/** Compares the digests computed over the export's files with the manifest; throws on the first mismatch. */
export function checkMf(entries: readonly MfEntry[], mfFile: string, computed: (file: string, algorithm: MfAlgorithm) => string | undefined): void {
  for (const e of entries) {
    const got = computed(e.file, e.algorithm);
    if (got === undefined) throw new VmwareError('missing', e.file, `the manifest ${mfFile} lists it, but the export has no such file: the export is incomplete`);
    if (got !== e.digest) {
      throw new VmwareError('digest', e.file, `its ${e.algorithm.toUpperCase()} is ${got}, the manifest ${mfFile} says ${e.digest}: the file was changed or damaged after the export; export the VM again`);
    }
  }
}
