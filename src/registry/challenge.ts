// WWW-Authenticate parsing (RFC 7235 auth-params) for the two schemes registries use.

export type Challenge =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'basic'; readonly realm: string | undefined }
  | { readonly scheme: 'bearer'; readonly realm: string; readonly service: string | undefined; readonly scope: string | undefined };

/** Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; Bearer wins when both are offered. */
export function parseChallenge(header: string | readonly string[] | undefined): Challenge | undefined {
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  let basic: Challenge | undefined;
  for (const value of values) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(value);
    if (m === null) continue;
    const scheme = (m[1] ?? '').toLowerCase();
    const params = parseParams(m[2] ?? '');
    if (scheme === 'bearer') {
      const realm = params.get('realm');
      if (realm === undefined || realm === '') continue;
      return { scheme: 'bearer', realm, service: params.get('service'), scope: params.get('scope') };
    }
    if (scheme === 'basic') basic = { scheme: 'basic', realm: params.get('realm') };
  }
  return basic;
}

/** key=value pairs separated by commas; values may be quoted strings with \-escapes and commas. */
function parseParams(s: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ',' || s[i] === ' ' || s[i] === '\t')) i++;
    const keyStart = i;
    while (i < s.length && s[i] !== '=' && s[i] !== ',') i++;
    const key = s.slice(keyStart, i).trim().toLowerCase();
    if (s[i] !== '=') continue;
    i++;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
        i++;
      }
      i++;
    } else {
      const start = i;
      while (i < s.length && s[i] !== ',') i++;
      value = s.slice(start, i).trim();
    }
    if (key !== '') out.set(key, value);
  }
  return out;
}
