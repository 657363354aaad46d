import { describe, expect, it } from 'vitest';
import { canonicalString, computeSignature, encodeParams, formatExpires, javaUrlEncode, parseExpires, signParams, signatureMatches } from './signer.ts';

describe('signer: published vectors', () => {
  it('CloudStack documentation example (listUsers)', () => {
    const secret = 'VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ';
    const params = {
      apikey: 'plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg',
      command: 'listUsers',
      response: 'json',
    };
    expect(computeSignature(params, secret)).toBe('TTpdDq/7j/J58XCRHomKoQXEQds=');
  });

  const vectors: [string, Record<string, string>, string][] = [
    ['listVirtualMachines listall', { apiKey: 'foo', command: 'listVirtualMachines', response: 'json', listall: 'true' }, 'B0d6hBsZTcFVCiioSxzwKA9Pke8='],
    ['map parameters and commas', { foo: 'foo,bar', 'bar[0].baz': 'blah', 'bar[0].foo': '1000', bytes_param: 'blah', apiKey: 'foo', command: 'listVirtualMachines', response: 'json' }, 'ImJ/5F0P2RDL7yn4LdLnGcEx5WE='],
    ['details map', { id: 'a', 'details[0].cpunumber': '1000', 'details[0].memory': '640k', apiKey: 'foo', command: 'scaleVirtualMachine', response: 'json' }, 'ZNl66z3gFhnsx2Eo3vvCIM0kAgI='],
    ['empty values', { name: '', display_text: '', apiKey: 'foo', command: 'createNetwork', response: 'json' }, 'CistTEiPt/4Rv1v4qSyILvPbhmg='],
  ];
  for (const [name, params, sig] of vectors) {
    it(name, () => {
      expect(computeSignature(params, 'bar')).toBe(sig);
      expect(signatureMatches(params, 'bar', sig)).toBe(true);
      expect(signatureMatches(params, 'baz', sig)).toBe(false);
    });
  }
});

describe('signer: encoding', () => {
  it('encodes like java.net.URLEncoder with + as %20', () => {
    expect(javaUrlEncode("a b~!'()*+/=&é._-")).toBe('a%20b%7E%21%27%28%29*%2B%2F%3D%26%C3%A9._-');
    expect(javaUrlEncode('日本')).toBe('%E6%97%A5%E6%9C%AC');
    expect(javaUrlEncode('\uD800x')).toBe('%3Fx');
  });

  it('sorts names as sent (case-sensitive) before lowercasing, and skips signature', () => {
    expect(canonicalString({ b: '1', B: '2', a: 'X', signature: 'zzz' })).toBe('b=2&a=x&b=1');
  });

  it('signs v3 with expires a few minutes ahead', () => {
    const now = Date.UTC(2024, 0, 2, 3, 4, 5);
    const p = signParams({ command: 'listZones', response: 'json' }, { apiKey: 'k', secretKey: 's', now });
    expect(p.signatureVersion).toBe('3');
    expect(p.expires).toBe('2024-01-02T03:09:05+0000');
    expect(p.signature).toBe(computeSignature({ command: 'listZones', response: 'json', apiKey: 'k', signatureVersion: '3', expires: p.expires }, 's'));
    const v1 = signParams({ command: 'listZones' }, { apiKey: 'k', secretKey: 's', now, version: 1 });
    expect(v1.expires).toBeUndefined();
  });

  it('parses the expires formats CloudStack accepts', () => {
    expect(parseExpires('2024-01-02T03:04:05+0000')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(parseExpires('2024-01-02T05:04:05.250+0200')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 250));
    expect(parseExpires('2024-01-02T03:04:05+00:00')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(parseExpires('2024-01-02 03:04:05')).toBeUndefined();
    expect(formatExpires(Date.UTC(2030, 11, 31, 23, 59, 59))).toBe('2030-12-31T23:59:59+0000');
  });

  it('puts a literal + on the wire as %2B', () => {
    expect(encodeParams({ q: 'a+b c', 'x[0].y': '1' })).toBe('q=a%2Bb%20c&x%5B0%5D.y=1');
  });
});
