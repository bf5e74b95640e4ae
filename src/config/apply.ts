/**
 * Config files on commander commands: `--config FILE` (or a default path when that file exists) and the
 * precedence defaults < file < environment < flags. Commander has already parsed the flags and the
 * environment when the `preAction` hook runs, so the file fills exactly the options still at their default
 * (source `default` or unset) and marks them with source `config`; flags and environment keep theirs.
 *
 * What the command started with (flags, environment, defaults) is remembered, so a reload (the agent's
 * SIGHUP) resolves a changed file against the same flags and environment as the start did.
 */
import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { PgvigilError } from '../errors.js';
import { errorText, formatIssue, type LoadedConfig, loadConfigFile } from './file.js';
import { type ConfigKey, configKeys, parseOptionValue } from './keys.js';

export type ConfigSource = 'default' | 'config' | 'env' | 'cli';

export const configKinds = ['agent', 'server', 'up'] as const;
export type ConfigKind = (typeof configKinds)[number];

/** Where each command looks for its file when no --config is given (`up` reads one only with --config). */
export const defaultConfigPaths: Record<ConfigKind, string | undefined> = {
  agent: '/etc/pgvigil/agent.toml',
  server: '/etc/pgvigil/server.toml',
  up: undefined,
};

export interface ResolvedValue {
  key: string;
  value: unknown;
  source: ConfigSource | undefined;
  /** The file line, for values from the file. */
  line?: number;
  /** The environment variable, for values from the environment. */
  env?: string;
  spec: ConfigKey;
}

export interface ConfigFileOptions {
  /** Read when present and no --config is given. */
  defaultPath?: string;
}

interface Start {
  value: unknown;
  source: ConfigSource | undefined;
}

export interface ConfigState {
  /** The file read at start, or at the last reload (undefined: none). */
  file: string | undefined;
  /** --config as given (undefined: the default path, when it exists). */
  given: string | undefined;
  defaultPath: string | undefined;
  keys: Map<string, ConfigKey>;
  /** By attribute name: values and sources before the file was applied. */
  start: Map<string, Start>;
  /** The values the command runs with, and where each came from. */
  values: ResolvedValue[];
}

const states = new WeakMap<Command, ConfigState>();

/** The config file state of a command whose action is running (undefined when it has none). */
export function configState(cmd: Command): ConfigState | undefined {
  return states.get(cmd);
}

/** A config file's problems as one error: every problem on its own line, each naming file, line and key. */
export function configFileError(loaded: LoadedConfig): PgvigilError {
  return new PgvigilError('CONFIG_FILE_INVALID', loaded.issues.map(formatIssue).join('\n'));
}

/**
 * Values by key: a flag or environment value from `start` wins, then the file, then the default.
 */
export function resolveValues(
  state: Pick<ConfigState, 'keys' | 'start'>,
  loaded?: LoadedConfig,
): ResolvedValue[] {
  const out: ResolvedValue[] = [];
  for (const spec of state.keys.values()) {
    const attr = spec.option.attributeName();
    const start = state.start.get(attr) ?? { value: undefined, source: undefined };
    const entry = loaded?.entries.get(spec.key);
    const env = start.source === 'env' ? spec.option.envVar : undefined;
    if (start.source === 'cli' || start.source === 'env' || !entry) {
      out.push({ key: spec.key, value: start.value, source: start.source, env, spec });
    } else {
      out.push({ key: spec.key, value: entry.value, source: 'config', line: entry.line, spec });
    }
  }
  return out;
}

/**
 * Adds `--config FILE` to `cmd` and applies the file before its action runs. Call it after the command's
 * other options are defined or not: the keys are read from the options when the command runs, so every
 * option, including ones added later, has its key.
 */
export function withConfigFile(cmd: Command, opts: ConfigFileOptions = {}): Command {
  const help = opts.defaultPath
    ? `read settings from this TOML file (default: ${opts.defaultPath} when it exists); flags and environment variables override it`
    : 'read settings from this TOML file; flags and environment variables override it';
  cmd.addOption(new Option('--config <file>', help));
  cmd.hook('preAction', () => {
    const given = cmd.getOptionValue('config') as string | undefined;
    const file = given ?? (opts.defaultPath && existsSync(opts.defaultPath) ? opts.defaultPath : undefined);
    const keys = configKeys(cmd);
    const start = new Map<string, Start>();
    for (const spec of keys.values()) {
      const attr = spec.option.attributeName();
      start.set(attr, {
        value: cmd.getOptionValue(attr),
        source: cmd.getOptionValueSource(attr) as ConfigSource | undefined,
      });
    }
    const state: ConfigState = {
      file,
      given,
      defaultPath: opts.defaultPath,
      keys,
      start,
      values: resolveValues({ keys, start }),
    };
    states.set(cmd, state);
    if (file === undefined) return;
    const loaded = loadConfigFile(file, keys);
    if (loaded.issues.length > 0) throw configFileError(loaded);
    state.values = resolveValues(state, loaded);
    for (const r of state.values) {
      if (r.source === 'config')
        cmd.setOptionValueWithSource(r.spec.option.attributeName(), r.value, 'config');
    }
  });
  return cmd;
}

/**
 * Re-reads the file of a running command (the agent's SIGHUP) as a restart would find it (--config, else
 * the default path when it exists now) and resolves it against the flags and environment the command
 * started with. Throws CONFIG_FILE_INVALID, naming every problem, when the file is not acceptable;
 * nothing is applied then. Sets `state.file` to the file read.
 */
export function reloadConfigFile(state: ConfigState): ResolvedValue[] {
  const file =
    state.given ?? (state.defaultPath && existsSync(state.defaultPath) ? state.defaultPath : undefined);
  if (file === undefined) {
    state.file = undefined;
    return resolveValues(state);
  }
  const loaded = loadConfigFile(file, state.keys);
  if (loaded.issues.length > 0) throw configFileError(loaded);
  state.file = file;
  return resolveValues(state, loaded);
}

/** Resolved values as the options object commander gives an action (by attribute name). */
export function asFlags(values: ResolvedValue[]): Record<string, unknown> {
  return Object.fromEntries(values.map((v) => [v.spec.option.attributeName(), v.value]));
}

/**
 * What `cmd` would start with from defaults and the environment alone (no flags), for `config print`:
 * commander's own rules (a value option takes the variable through its parser; a boolean is set by the
 * variable's presence, a --no- option cleared).
 */
export function startFromEnvironment(cmd: Command, env: NodeJS.ProcessEnv = process.env): ConfigState {
  const keys = configKeys(cmd);
  const start = new Map<string, Start>();
  for (const spec of keys.values()) {
    const o = spec.option;
    const attr = o.attributeName();
    let value = o.negate && o.defaultValue === undefined ? true : o.defaultValue;
    let source: ConfigSource | undefined = value === undefined ? undefined : 'default';
    const raw = o.envVar !== undefined ? env[o.envVar] : undefined;
    if (raw !== undefined) {
      value = o.required || o.optional ? parseOptionValue(o, raw, value) : !o.negate;
      source = 'env';
    }
    start.set(attr, { value, source });
  }
  return { file: undefined, given: undefined, defaultPath: undefined, keys, start, values: [] };
}

/**
 * A flag's error (BAD_ARGUMENT starting with the flag, as the parsers word them) about a value that came
 * from the file, retold as the file's error with its line and key; any other error as it is.
 */
export function blameConfigFile(err: unknown, file: string | undefined, values: ResolvedValue[]): unknown {
  if (file === undefined || !(err instanceof PgvigilError) || err.code !== 'BAD_ARGUMENT') return err;
  const flag = /^(--[a-z0-9-]+)/.exec(err.message)?.[1];
  const value = values.find((v) => v.spec.flag === flag && v.source === 'config');
  if (!value) return err;
  return new PgvigilError(
    'CONFIG_FILE_INVALID',
    formatIssue({ file, line: value.line, key: value.key, message: errorText(err, value.spec.flag) }),
  );
}
