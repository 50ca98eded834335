import type { SqlParams } from './types.js';

/**
 * Query parameters for @clickhouse/client's `query_params`: `add(value, type)` stores the value under a fresh name
 * and returns the `{name:Type}` placeholder. User input only ever reaches SQL this way, never as text.
 */
export class ParamBag implements SqlParams {
  readonly values: Record<string, unknown> = {};
  private next = 0;

  constructor(private readonly prefix = 'p') {
    if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new Error(`bad parameter prefix ${prefix}`);
  }

  add(value: unknown, type: string): string {
    const name = `${this.prefix}${this.next++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}
