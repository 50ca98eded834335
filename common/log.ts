/**
 * Small structured logger: one line per event on stderr, `level component message key=value ...`.
 * LOOKBACK_LOG=debug|info|warn|error sets the threshold (default info); LOOKBACK_LOG_FORMAT=json emits JSON lines.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function threshold(): number {
  const env = (process.env['LOOKBACK_LOG'] ?? 'info') as Level;
  return ORDER[env] ?? ORDER.info;
}

function format(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value);
}

export function createLogger(component: string, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const min = threshold();
  const json = process.env['LOOKBACK_LOG_FORMAT'] === 'json';
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    if (json) {
      sink(JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...fields }));
      return;
    }
    const extra = fields ? Object.entries(fields).map(([k, v]) => ` ${k}=${format(v)}`).join('') : '';
    sink(`${new Date().toISOString()} ${level.padEnd(5)} ${component}: ${msg}${extra}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}.${sub}`, sink),
  };
}

/** A logger that drops everything: for tests and benchmarks. */
export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {},
  child() { return silentLogger; },
};
