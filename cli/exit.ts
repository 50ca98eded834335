import { LookbackError, describeError } from '../common/errors.js';

/** The CLI edge: one mapping from error codes to exit codes and one line on stderr, never a stack trace. */
const EXIT: Record<string, number> = {
  config: 2,
  invalid_argument: 2,
  missing_dependency: 3,
  permission: 3,
  unavailable: 4,
  schema: 5,
};

export function exitCodeFor(err: unknown): number {
  return err instanceof LookbackError ? EXIT[err.code] ?? 1 : 1;
}

export function reportAndExit(err: unknown): never {
  const message = describeError(err);
  // Config errors already begin with "config:"; do not say it twice.
  const prefix = err instanceof LookbackError ? (message.startsWith(`${err.code}:`) ? 'lookback: ' : `lookback: ${err.code}: `) : 'lookback: error: ';
  process.stderr.write(prefix + message + '\n');
  if (process.env['LOOKBACK_DEBUG'] && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exit(exitCodeFor(err));
}
