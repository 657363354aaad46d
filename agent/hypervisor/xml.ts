/**
 * @layer logic
 * A small, strict XML reader and escaper for libvirt's regular output (domain, checkpoint and
 * backup XML): elements, attributes, text, the five predefined entities and numeric character
 * references. Comments, processing instructions and a doctype are skipped; CDATA is text.
 * Malformed input throws XmlError instead of guessing.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** concatenated text directly inside this element */
  text: string;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new XmlError(`[xml] unknown entity ${m}`);
    return v;
  });
}

/** Escapes text or an attribute value (either quote style). */
export function escapeXml(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(s)) throw new XmlError(`[xml] control character in ${JSON.stringify(s)}: not representable in XML 1.0`);
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTR = /\s*([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;

export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (why: string): never => { throw new XmlError(`[xml] ${why} at offset ${i}`); };
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const text = src.slice(i, lt === -1 ? src.length : lt);
    if (text.trim()) {
      if (!stack.length) fail('text outside the root element');
      stack[stack.length - 1].text += decode(text);
    }
    if (lt === -1) break;
    i = lt;
    if (src.startsWith('<!--', i)) { const e = src.indexOf('-->', i); if (e < 0) fail('unterminated comment'); i = e + 3; continue; }
    if (src.startsWith('<?', i)) { const e = src.indexOf('?>', i); if (e < 0) fail('unterminated processing instruction'); i = e + 2; continue; }
    if (src.startsWith('<![CDATA[', i)) {
      const e = src.indexOf(']]>', i);
      if (e < 0 || !stack.length) fail('bad CDATA');
      stack[stack.length - 1].text += src.slice(i + 9, e);
      i = e + 3;
      continue;
    }
    if (src.startsWith('<!', i)) { const e = src.indexOf('>', i); if (e < 0) fail('unterminated declaration'); i = e + 1; continue; }
    if (src[i + 1] === '/') {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(src) ?? fail('bad closing tag');
      const open = stack.pop();
      if (!open || open.name !== m[0]) fail(`closing </${m[0]}> does not match <${open?.name ?? ''}>`);
      i = NAME.lastIndex;
      while (/\s/.test(src[i] ?? '')) i++;
      if (src[i] !== '>') fail('bad closing tag');
      i++;
      continue;
    }
    NAME.lastIndex = i + 1;
    const m = NAME.exec(src) ?? fail('bad tag name');
    const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
    i = NAME.lastIndex;
    for (;;) {
      ATTR.lastIndex = i;
      const a = ATTR.exec(src);
      if (!a) break;
      if (a[1] in el.attrs) fail(`duplicate attribute ${a[1]}`);
      el.attrs[a[1]] = decode(a[2] ?? a[3] ?? '');
      i = ATTR.lastIndex;
    }
    while (/\s/.test(src[i] ?? '')) i++;
    const selfClosing = src.startsWith('/>', i);
    if (!selfClosing && src[i] !== '>') fail(`bad tag <${el.name}>`);
    i += selfClosing ? 2 : 1;
    if (stack.length) stack[stack.length - 1].children.push(el);
    else if (root) fail('second root element');
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length) throw new XmlError(`[xml] unclosed <${stack[stack.length - 1].name}>`);
  if (!root) throw new XmlError('[xml] no root element');
  return root;
}

/** The first child with this name (one level), or undefined. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** All children with this name (one level). */
export function childrenNamed(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** Follows a path of child names: path(domain, 'devices', 'disk') → the first match. */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = el;
  for (const n of names) cur = child(cur, n);
  return cur;
}
