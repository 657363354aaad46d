/**
 * The session protocol as text: quoting for virsh's tokenizer, and replies cut out of stdout and
 * stderr as virsh writes them (readline's echo, prompts, a long line scrolled, errors, replies
 * arriving in pieces).
 */
import { describe, expect, it } from 'vitest';
import { frameCommand, parseReply, quoteWord, sessionSafe } from './virsh-framing.ts';

describe('virsh session framing', () => {
  it('quotes every word, a quote inside as \'\\\'\'', () => {
    expect(quoteWord('dominfo')).toBe("'dominfo'");
    expect(quoteWord("it's")).toBe("'it'\\''s'");
    expect(quoteWord('')).toBe("''");
    expect(frameCommand(['dominfo', 'vm 1'], 'tk1')).toBe("'dominfo' 'vm 1'\necho --err tk1\necho tk1\n");
  });

  it('lets only printable ASCII through a session', () => {
    expect(sessionSafe(['qemu-monitor-command', 'x', '{"execute":"query-status"}', "a'b\\c;d#e"])).toBe(true);
    for (const bad of ['a\nb', 'a\tb', 'é', '\x7f', 'a\rb']) expect(sessionSafe(['echo', bad])).toBe(false);
  });

  it('cuts a reply out of what virsh printed, echo and prompts removed', () => {
    const out = "virsh # 'dominfo' 'vm1'\nId: 1\nName: vm1\n\nvirsh # echo --err tk1\nvirsh # echo tk1\ntk1virsh # 'next'\n";
    const err = 'error: tk1\nmore';
    const r = parseReply(out, err, 'tk1')!;
    expect(r).toMatchObject({ stdout: 'Id: 1\nName: vm1\n\n', stderr: '', ok: true });
    expect(out.slice(r.stdoutUsed)).toBe("virsh # 'next'\n");
    expect(err.slice(r.stderrUsed)).toBe('more');
  });

  it('an output without a final newline, and a long command line readline scrolled', () => {
    const out = "virsh # \r<xxxxxxxx' 'y'\nxxxx yvirsh # echo --err tk2\nvirsh # echo tk2\ntk2";
    expect(parseReply(out, 'error: tk2\n', 'tk2')).toMatchObject({ stdout: 'xxxx y', ok: true });
  });

  it('a failed command: its error lines, ok false', () => {
    const out = "virsh # 'dominfo' 'nope'\nvirsh # echo --err tk3\nvirsh # echo tk3\ntk3";
    const r = parseReply(out, "error: failed to get domain 'nope'\nerror: tk3\n", 'tk3')!;
    expect(r).toMatchObject({ stdout: '', stderr: "error: failed to get domain 'nope'\n", ok: false });
  });

  it('waits until both markers are in, whatever order the pipes deliver', () => {
    const out = "virsh # 'list'\n a\nvirsh # echo --err tk4\nvirsh # echo tk4\ntk4";
    expect(parseReply(out, '', 'tk4')).toBeUndefined();
    expect(parseReply(out.slice(0, -3), 'error: tk4\n', 'tk4')).toBeUndefined();
    expect(parseReply(out, 'error: tk4\n', 'tk4')?.stdout).toBe(' a\n');
    // another token's marker is not this one's
    expect(parseReply(out, 'error: tk40\n', 'tk4')).toBeUndefined();
  });
});
