import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command, Option } from 'commander';
import { configState, reloadConfigFile, withConfigFile } from './apply.js';

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-apply-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function append(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses `args` with `env` set, returning the options and their sources as the action sees them. */
async function run(args: string[], env: Record<string, string>) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    let seen: { opts: Record<string, unknown>; sources: Record<string, string | undefined>; cmd?: Command } =
      {
        opts: {},
        sources: {},
      };
    const cmd = new Command('sample')
      .exitOverride()
      .addOption(new Option('--host <host>').default('127.0.0.1').env('T_HOST'))
      .addOption(new Option('--port <port>').default(8470).argParser(Number).env('T_PORT'))
      .addOption(new Option('--level <level>').default('info').env('T_LEVEL'))
      .option('--watch <name>', 'repeatable', append, []);
    withConfigFile(cmd).action((opts: Record<string, unknown>, c: Command) => {
      seen = {
        opts,
        sources: Object.fromEntries(Object.keys(opts).map((k) => [k, c.getOptionValueSource(k)])),
        cmd: c,
      };
    });
    await cmd.parseAsync(args, { from: 'user' });
    return seen;
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

test('defaults_then_file_then_environment_then_flags', async () => {
  const file = join(dir, 'a.toml');
  writeFileSync(file, 'host = "0.0.0.0"\nport = 9000\nlevel = "debug"\nwatch = ["a", "b"]\n');
  const r = await run(['--config', file, '--level', 'warn', '--watch', 'c'], { T_PORT: '9100' });
  assert.deepEqual(
    { host: r.opts.host, port: r.opts.port, level: r.opts.level, watch: r.opts.watch },
    { host: '0.0.0.0', port: 9100, level: 'warn', watch: ['c'] },
    'file over default, environment over file, flag over both; a repeated flag replaces the array',
  );
  assert.equal(r.sources.host, 'config');
  assert.equal(r.sources.port, 'env');
  assert.equal(r.sources.level, 'cli');
});

test('a_reload_reads_the_changed_file_against_the_same_flags_and_environment', async () => {
  const file = join(dir, 'b.toml');
  writeFileSync(file, 'host = "0.0.0.0"\nlevel = "debug"\n');
  const r = await run(['--config', file, '--level', 'warn'], {});
  writeFileSync(file, 'host = "10.0.0.1"\nlevel = "error"\nwatch = ["x"]\n');
  const state = configState(r.cmd!)!;
  const values = Object.fromEntries(reloadConfigFile(state).map((v) => [v.key, [v.value, v.source]]));
  assert.deepEqual(values.host, ['10.0.0.1', 'config']);
  assert.deepEqual(values.level, ['warn', 'cli'], 'the flag still wins');
  assert.deepEqual(values.watch, [['x'], 'config']);
  assert.deepEqual(values.port, [8470, 'default']);

  writeFileSync(file, 'hots = "10.0.0.2"\n');
  assert.throws(
    () => reloadConfigFile(state),
    /b\.toml:1: key "hots": unknown key \(did you mean "host"\?\)/,
  );
});
