import { LookbackError } from '../errors.js';

/**
 * How much one request may ask of the filter engine. Hubble clients send a handful of filters with a few values
 * each; these bounds are far above that and far below what could hurt the server (every value becomes a query
 * parameter in the URL of a ClickHouse request, every regex a program that runs per flow).
 */
export interface FilterLimits {
  /** Whitelist plus blacklist filters. */
  maxFilters: number;
  /** Values in one repeated field of one filter. */
  maxValuesPerField: number;
  /** Values across the whole request. */
  maxValues: number;
  /** Characters in one value (a pod prefix, a regex, a label selector). */
  maxValueLength: number;
  /** Characters across the whole request. */
  maxTotalChars: number;
  /** RE2 program size of one regex (a rough cost measure; `a{1000}` is about 1000). */
  maxRegexProgramSize: number;
}

export const DEFAULT_FILTER_LIMITS: FilterLimits = {
  maxFilters: 64,
  maxValuesPerField: 256,
  maxValues: 2048,
  maxValueLength: 1024,
  maxTotalChars: 64 * 1024,
  maxRegexProgramSize: 5000,
};

/** A filter the user wrote cannot be used: the message names where it is and what is wrong. */
export function invalidFilter(where: string, message: string): LookbackError {
  return new LookbackError('invalid_argument', `invalid flow filter: ${where}: ${message}`);
}

/** Shows a user value in an error message: quoted, and cut short when it is long. */
export function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}
