// Redaction of URLs before they reach a message or a log line. A forward scan, not a regex,
// so a password containing '@' or ':' is still removed and no input can cause backtracking.

/** Removes userinfo (user:password@) and the query string from a URL-like string. */
export function redactUrl(input: string): string {
  const schemeEnd = input.indexOf('://');
  let out = input;
  if (schemeEnd >= 0) {
    const rest = input.slice(schemeEnd + 3);
    const slash = rest.indexOf('/');
    const authority = slash >= 0 ? rest.slice(0, slash) : rest;
    const at = authority.lastIndexOf('@');
    if (at >= 0) {
      out = input.slice(0, schemeEnd + 3) + '***@' + rest.slice(at + 1);
    }
  }
  const q = out.indexOf('?');
  if (q >= 0) out = out.slice(0, q) + '?***';
  return out;
}
