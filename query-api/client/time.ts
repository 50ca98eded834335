/**
 * Times on the command line, as the hubble CLI reads them: a Go duration before now (`5m`, `1h30m`, `90s`,
 * `250ms`) or an absolute time (`2025-11-26`, `2025-11-26T08:00`, RFC 3339 with optional fraction and zone).
 * Returns nanoseconds since the epoch.
 */
import { LookbackError } from '../../common/errors.js';

const UNIT_NS: Record<string, bigint> = {
  ns: 1n, us: 1_000n, 'µs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
};

/** Go's time.ParseDuration (without a sign): `1h30m`, `2.5s`. Null when the text is not a duration. */
export function parseGoDuration(text: string): bigint | null {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return null;
  let total = 0n;
  for (const m of text.matchAll(/(\d+)(?:\.(\d+))?(ns|us|µs|ms|s|m|h)/g)) {
    const unit = UNIT_NS[m[3]!]!;
    total += BigInt(m[1]!) * unit;
    if (m[2]) total += (BigInt(m[2].slice(0, 9).padEnd(9, '0')) * unit) / 1_000_000_000n;
  }
  return total;
}

const ABSOLUTE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

export function parseCliTime(text: string, name: string, nowNs = BigInt(Date.now()) * 1_000_000n): bigint {
  const d = parseGoDuration(text.trim());
  if (d !== null) return nowNs - d;
  const m = ABSOLUTE.exec(text.trim());
  if (m) {
    const [, y, mo, da, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
    const iso = `${y}-${mo}-${da}T${h}:${mi}:${s}${zone === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`;
    const ms = Date.parse(iso);
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + (frac ? BigInt(frac.padEnd(9, '0')) : 0n);
  }
  throw new LookbackError('invalid_argument', `--${name} ${JSON.stringify(text)}: not a duration before now (5m, 1h30m) or a time (2025-11-26T08:00:00Z)`);
}
