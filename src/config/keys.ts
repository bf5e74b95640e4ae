/**
 * Config-file keys derived from a command's options, so that every flag has a key and a flag added later
 * gets one without further work: the key is the option's name in snake_case (`--tls-cert` → `tls_cert`,
 * `--no-logs` → `logs`, set to false), its TOML type follows from how the option takes its value, and a
 * value from a file goes through the option's own parser and choices exactly as the flag's would.
 */
import type { Command, Option } from 'commander';

/** How a key is written in TOML. */
export type KeyType = 'boolean' | 'string' | 'list';

export interface ConfigKey {
  /** The key in the file: the option's attribute name in snake_case. */
  key: string;
  /** The flag it stands for (`--tls-cert`), for messages. */
  flag: string;
  type: KeyType;
  option: Option;
}

/** Options that select the file or print something and exit, which a file cannot sensibly set. */
const notInFiles = new Set(['config', 'help', 'version', 'print_systemd_unit']);

export function keyOfOption(option: Option): string {
  return option.attributeName().replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A repeatable option is one that collects its values into an array: its default is an array (the
 * `appendValue` parser with `[]`) or it is variadic (`<value...>`).
 */
function isList(option: Option): boolean {
  return option.variadic || Array.isArray(option.defaultValue);
}

/** The keys a config file for `cmd` may hold, by key. */
export function configKeys(cmd: Command): Map<string, ConfigKey> {
  const out = new Map<string, ConfigKey>();
  for (const option of cmd.options) {
    const key = keyOfOption(option);
    if (notInFiles.has(key) || option.long === undefined) continue;
    const type: KeyType =
      option.isBoolean() || option.negate ? 'boolean' : isList(option) ? 'list' : 'string';
    // A --x/--no-x pair is one key; the positive option defines it.
    if (out.has(key) && option.negate) continue;
    out.set(key, { key, flag: option.long, type, option });
  }
  return out;
}

/** The value `option` takes when set from a file or the environment: through its own parser. */
export function parseOptionValue(option: Option, raw: string, previous: unknown): unknown {
  return option.parseArg ? option.parseArg(raw, previous) : raw;
}
