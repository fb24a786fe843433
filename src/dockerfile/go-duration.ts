// Go's duration syntax ("1h30m", "90s", "250ms"), used by HEALTHCHECK options and by kaniko's duration flags.

const unitNs: Readonly<Record<string, number>> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds, or undefined when `text` is not a Go duration. "0" alone is allowed without a unit, as in Go. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (unitNs[m[2] ?? ''] ?? 0);
    end = re.lastIndex;
  }
  return end === 0 || end !== text.length ? undefined : total;
}
