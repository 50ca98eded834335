import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LookbackError } from '../common/errors.js';
import { applyOverrides, describeSpec, parseConfig, readConfigFile, type ConfigOf, type Spec } from '../common/config.js';

/** Options every service command shares: --config FILE, --set key=value (repeatable), --check, --help-config. */
export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  set: { type: 'string', multiple: true },
  check: { type: 'boolean' },
  'help-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new LookbackError('invalid_argument', (err as Error).message);
  }
}

/** Loads the file (if any), applies --set overrides, validates against the spec. */
export function loadServiceConfig<S extends Spec>(spec: S, values: { config?: string | undefined; set?: string[] | undefined }): ConfigOf<S> {
  const raw = values.config ? readConfigFile(values.config) : {};
  return parseConfig(spec, applyOverrides(raw, values.set ?? []));
}

export function printConfigHelp(spec: Spec): void {
  process.stdout.write(describeSpec(spec).join('\n') + '\n');
}

/**
 * What every service command does before its work: --help, --help-config, load and validate the config (with
 * `extraSet` overrides from the command's own shorthand flags), --check. Returns the config, or the exit code
 * when the command has nothing more to do.
 */
export function commandConfig<S extends Spec>(
  spec: S,
  values: { help?: boolean | undefined; 'help-config'?: boolean | undefined; check?: boolean | undefined; config?: string | undefined; set?: string[] | undefined },
  usage: string,
  extraSet: string[] = [],
): ConfigOf<S> | number {
  if (values.help) {
    process.stdout.write(usage.endsWith('\n') ? usage : usage + '\n');
    return 0;
  }
  if (values['help-config']) {
    printConfigHelp(spec);
    return 0;
  }
  const cfg = loadServiceConfig(spec, { config: values.config, set: [...(values.set ?? []), ...extraSet] });
  if (values.check) {
    process.stdout.write('config ok\n');
    return 0;
  }
  return cfg;
}
