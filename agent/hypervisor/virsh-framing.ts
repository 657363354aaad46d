/**
 * @layer logic
 * The text protocol of a long-lived `virsh` reading commands on stdin (virsh-session.ts).
 *
 * virsh tokenises a command line like a small shell: blanks and ';' separate words, '…' quotes
 * literally (no escapes inside), "…" and \ escape. Every argument is sent single-quoted, a quote
 * inside as '\''. Readline reads the line, so only printable ASCII may go through a session
 * (a tab would complete, a control byte would edit, a byte ≥ 0x80 may become a meta key, a
 * newline would end the command): anything else runs as its own virsh process instead.
 *
 * Framing. For each command the session writes three lines:
 *     <command>
 *     echo --err <token>
 *     echo <token>
 * virsh prints on stdout (readline echoes each line it reads after its prompt, 'virsh # '):
 *     virsh # <command, possibly scrolled with \r and '<' on a long line>\n<output>
 *     virsh # echo --err <token>\nvirsh # echo <token>\n<token>
 * and on stderr `<errors>error: <token>\n`. The reply is complete when both markers are in;
 * the command failed when its stderr has an `error:` line (one-shot virsh exits 1 then). The
 * echoed command ends at the first newline: commands never contain one.
 */

/** Printable ASCII only (see above): true when the words can go through a session. */
export function sessionSafe(args: readonly string[]): boolean {
  return args.every((a) => /^[\x20-\x7e]*$/.test(a));
}

/** One word for virsh's tokenizer: single-quoted, ' as '\''. */
export function quoteWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What to write to virsh's stdin for `args`, framed by `token` (short, [a-z0-9]). */
export function frameCommand(args: readonly string[], token: string): string {
  return `${args.map(quoteWord).join(' ')}\necho --err ${token}\necho ${token}\n`;
}

export interface FramedReply {
  stdout: string;
  stderr: string;
  ok: boolean;
  /** characters of the stdout / stderr buffers the reply used up */
  stdoutUsed: number;
  stderrUsed: number;
}

const PROMPTS = ['virsh # ', 'virsh > '];

function stripPrompt(s: string): string {
  for (const p of PROMPTS) if (s.endsWith(p)) return s.slice(0, -p.length);
  return s;
}

/**
 * The reply to the command framed with `token`, from the start of the session's unread stdout
 * and stderr; undefined while one of its markers has not arrived.
 */
export function parseReply(stdout: string, stderr: string, token: string): FramedReply | undefined {
  const outEnd = `echo ${token}\n${token}`;
  const outAt = stdout.indexOf(outEnd);
  const errEnd = `error: ${token}\n`;
  const errAt = stderr.indexOf(errEnd);
  if (outAt < 0 || errAt < 0) return undefined;
  const errMark = stdout.lastIndexOf(`echo --err ${token}\n`, outAt);
  if (errMark < 0) return undefined;
  // [prompt]<command echo>\n<output>[prompt]echo --err …
  const block = stripPrompt(stdout.slice(0, errMark));
  const nl = block.indexOf('\n');
  const out = nl < 0 ? '' : block.slice(nl + 1);
  const err = stderr.slice(0, errAt);
  return {
    stdout: out, stderr: err, ok: !/^error:/m.test(err),
    stdoutUsed: outAt + outEnd.length, stderrUsed: errAt + errEnd.length,
  };
}
