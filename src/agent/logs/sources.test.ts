import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { newerCheckpoint, PositionStore } from './positions.js';
import {
  defaultLogSources,
  type FileSourceConfig,
  logSourcesSchema,
  postgresLogSource,
  presentSources,
  withPostgresSources,
} from './sources.js';

const settings = {
  data_directory: '/var/lib/postgresql/18/main',
  log_directory: 'log',
  log_filename: 'postgresql-%Y-%m-%d_%H%M%S.log',
  log_destination: 'stderr',
  logging_collector: 'on',
  log_line_prefix: '%m [%p] %q%u@%d ',
  log_timezone: 'Europe/Paris',
};

describe('log sources', () => {
  test('derives_the_postgresql_source_from_the_server_settings', () => {
    assert.deepEqual(postgresLogSource(settings), {
      name: 'postgresql',
      kind: 'file',
      parser: 'postgresql',
      paths: ['/var/lib/postgresql/18/main/log/postgresql-*-*-*_*.log'],
      prefix: '%m [%p] %q%u@%d ',
      timezone: 'Europe/Paris',
    });
    const json = postgresLogSource({
      ...settings,
      log_destination: 'stderr,jsonlog',
      log_directory: '/srv/pglog',
    });
    assert.equal(json?.kind === 'file' && json.parser, 'postgresql_json');
    assert.deepEqual(json?.kind === 'file' && json.paths, ['/srv/pglog/postgresql-*-*-*_*.json']);
    assert.equal(postgresLogSource({ ...settings, logging_collector: 'off' }), undefined);
  });

  test('the_sources_of_the_targets_settings_replace_the_default_postgresql_source', () => {
    const defaults = defaultLogSources();
    const derived = postgresLogSource(settings) as FileSourceConfig;
    const other = postgresLogSource({ ...settings, data_directory: '/srv/pg2' }) as FileSourceConfig;
    const names = (list: { name: string }[]) => list.map((s) => s.name);

    const one = withPostgresSources(defaults, [derived]);
    assert.deepEqual(names(one), names(defaults), "in the default one's place");
    assert.deepEqual(one[0], derived);
    assert.ok(logSourcesSchema.safeParse(one).success);

    // Two clusters: two sources; the same cluster reached twice: one.
    const two = withPostgresSources(defaults, [derived, other, { ...derived }]);
    assert.deepEqual(names(two).slice(0, 2), ['postgresql', 'postgresql_2']);
    assert.equal(two.length, defaults.length + 1);
    assert.deepEqual((two[1] as FileSourceConfig).paths, ['/srv/pg2/log/postgresql-*-*-*_*.log']);

    // No default source here (its files are missing): the derived one is added.
    const without = defaults.filter((s) => s.name !== 'postgresql');
    assert.deepEqual(names(withPostgresSources(without, [derived])).at(-1), 'postgresql');

    // The operator's own postgresql source stays as it is; nothing found changes nothing.
    const own = [
      { name: 'postgresql', kind: 'file' as const, parser: 'postgresql', paths: ['/srv/log/*.log'] },
    ];
    assert.deepEqual(withPostgresSources(own, [derived]), own);
    assert.deepEqual(withPostgresSources(defaults, []), defaults);
  });

  test('skips_default_sources_whose_files_are_missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-src-'));
    try {
      writeFileSync(join(dir, 'auth.log'), '');
      const present = await presentSources([
        { name: 'auth', kind: 'file', parser: 'syslog', paths: [join(dir, 'auth.log')] },
        {
          name: 'gone',
          kind: 'file',
          parser: 'syslog',
          paths: [join(dir, 'nope.log'), join(dir, 'x', '*.log')],
        },
      ]);
      assert.deepEqual(
        present.map((s) => s.name),
        ['auth'],
      );
      assert.ok(logSourcesSchema.safeParse(defaultLogSources()).success, 'the defaults validate');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rejects_unknown_parsers_zones_and_duplicate_names', () => {
    const bad = logSourcesSchema.safeParse([
      { name: 'a', kind: 'file', parser: 'nope', paths: ['/x'] },
      { name: 'a', kind: 'file', parser: 'syslog', paths: ['/x'], timezone: 'Mars/Base' },
    ]);
    assert.equal(bad.success, false);
    const text = JSON.stringify(bad.error?.issues);
    assert.match(text, /unknown parser/);
    assert.match(text, /unknown IANA time zone/);
  });
});

describe('positions', () => {
  test('saves_atomically_and_keeps_the_newest_checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-pos-'));
    try {
      const path = join(dir, 'positions.json');
      const store = await PositionStore.open(path);
      await Promise.all([
        store.save('a', { kind: 'journald', seq: 2, cursor: 'c2' }),
        store.save('b', { kind: 'journald', seq: 1, cursor: 'b1' }),
        store.save('a', { kind: 'journald', seq: 1, cursor: 'stale' }),
      ]);
      const again = await PositionStore.open(path);
      assert.deepEqual(again.get('a'), { kind: 'journald', seq: 2, cursor: 'c2' });
      assert.deepEqual(again.get('b'), { kind: 'journald', seq: 1, cursor: 'b1' });
      assert.equal(JSON.parse(readFileSync(path, 'utf8')).version, 1);
      const spool = { kind: 'journald', seq: 3, cursor: 'c3' } as const;
      assert.equal(newerCheckpoint(again.get('a'), spool), spool);
      assert.equal(newerCheckpoint(spool, again.get('a')), spool);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
