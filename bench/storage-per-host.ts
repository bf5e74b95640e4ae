/**
 * Storage per monitored host per day, for raw rows and each rollup tier, with PostgreSQL's default TOAST
 * compression (pglz) and with lz4.
 *
 * Two real `pgvigil up` processes run side by side, each with a store database of its own on a private
 * Debian PostgreSQL 15 (the embedded PostgreSQL is built without lz4) and its built-in agent collecting
 * this host and a pgbench database every 10 s. The pgbench databases (scale 5), on a second private
 * PostgreSQL 15, are worked on by a rate-limited pgbench run (`-R 20`), so the PostgreSQL families have
 * tables, indexes and statements to report. The second store database stores with lz4
 * (`ALTER DATABASE … SET default_toast_compression = 'lz4'`, set before its first row). After
 * `--minutes`, per family:
 * - raw and minute: the on-disk size (heap, TOAST and indexes) of the family's partitions, scaled from the
 *   time its rows span to a day;
 * - hourly and daily: the minute tier's bytes per row times the rows a day gives (one per series per hour,
 *   one per series per day), since a day has not passed.
 *
 * Run: npm run build && node dist/bench/storage-per-host.js [--minutes 15]
 * Needs Debian's PostgreSQL 15 (/usr/lib/postgresql/15/bin: the server and pgbench).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { silentLogger } from '../src/log.js';
import { families } from '../src/protocol/families/index.js';
import { type RunningCluster, startCluster } from '../src/storage/cluster.js';
import { packageRoot } from '../src/version.js';
import { arg } from './args.js';

const execFileAsync = promisify(execFile);
const minutes = Number(arg('minutes', '15'));
const pgbench = '/usr/lib/postgresql/15/bin/pgbench';

interface Run {
  mode: 'pglz' | 'lz4';
  dir: string;
  child: ChildProcess;
  url: string;
  bench?: ChildProcess;
}

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * One store database per mode on `stores`, a pgbench database under load on `watched`, and `pgvigil up`
 * on them. The watched cluster is another one: a collector reads every database of its cluster, and the
 * stores' hundreds of partitions would be counted as the host's tables.
 */
async function start(stores: RunningCluster, watched: RunningCluster, mode: Run['mode']): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), `pgvigil-storage-${mode}-`));
  const admin = new pg.Client({ connectionString: stores.url('postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE store_${mode}`);
  // TOAST compression is chosen when a value is stored, from this setting of the storing session.
  if (mode === 'lz4') await admin.query("ALTER DATABASE store_lz4 SET default_toast_compression = 'lz4'");
  await admin.end();
  const w = new pg.Client({ connectionString: watched.url('postgres') });
  await w.connect();
  await w.query(`CREATE DATABASE bench_${mode}`);
  await w.end();
  const url = stores.url(`store_${mode}`);
  const bench = watched.url(`bench_${mode}`);
  await execFileAsync(pgbench, ['-i', '-s', '5', '-q', bench]);
  const b = new pg.Client({ connectionString: bench });
  await b.connect();
  await b.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await b.end();
  const child = spawn(
    process.execPath,
    [join(packageRoot, 'bin/pgvigil.js'), 'up', '--data-dir', dir, '--port', '0', '--postgres', bench],
    {
      env: {
        ...process.env,
        DATABASE_URL: url,
        PGVIGIL_LOG_LEVEL: 'error',
        PGVIGIL_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  const deadline = Date.now() + 120_000;
  while (!/is up/.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`pgvigil up (${mode}) did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const load = spawn(pgbench, ['-c', '2', '-R', '20', '-T', String(minutes * 60 + 120), '-n', bench], {
    stdio: 'ignore',
  });
  children.push(load);
  return { mode, dir, child, url, bench: load };
}

interface FamilySize {
  family: string;
  rawRows: number;
  perDay: { raw: number; minute: number; hourly: number; daily: number };
}

async function relBytes(c: pg.Client, table: string): Promise<number> {
  const { rows } = await c.query<{ b: string }>(
    `SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) + pg_total_relation_size($1::regclass) AS b
       FROM pg_inherits i WHERE i.inhparent = $1::regclass`,
    [`pgvigil.${table}`],
  );
  return Number(rows[0]!.b);
}

async function measure(run: Run): Promise<FamilySize[]> {
  const c = new pg.Client({ connectionString: run.url });
  await c.connect();
  try {
    const out: FamilySize[] = [];
    for (const [name, spec] of Object.entries(families)) {
      const raw = await c.query<{ n: string; span: number | null }>(
        `SELECT count(*) AS n, extract(epoch FROM max(ts) - min(ts))::float8 AS span FROM pgvigil.${name}`,
      );
      const rawRows = Number(raw.rows[0]!.n);
      const span = raw.rows[0]!.span ?? 0;
      if (rawRows === 0 || span < 60) continue;
      const day = 86_400 / span;
      const minuteTable = `${name}_minute`;
      const hasTiers =
        !spec.once && (await c.query('SELECT to_regclass($1) AS t', [`pgvigil.${minuteTable}`])).rows[0].t;
      let minute = 0;
      let hourly = 0;
      let daily = 0;
      if (hasTiers) {
        const m = await c.query<{ n: string; series: string; span: number | null }>(
          `SELECT count(*) AS n, count(DISTINCT (${spec.columns
            .filter((col) => col.label)
            .map((col) => col.name)
            .concat(['server_id'])
            .join(', ')})) AS series,
                  extract(epoch FROM max(ts) - min(ts))::float8 + 60 AS span FROM pgvigil.${minuteTable}`,
        );
        const rows = Number(m.rows[0]!.n);
        if (rows > 0) {
          const bytes = await relBytes(c, minuteTable);
          const perRow = bytes / rows;
          minute = (bytes * 86_400) / (m.rows[0]!.span ?? 86_400);
          const series = Number(m.rows[0]!.series);
          hourly = perRow * series * 24;
          daily = perRow * series;
        }
      }
      out.push({
        family: name,
        rawRows,
        perDay: { raw: (await relBytes(c, name)) * day, minute, hourly, daily },
      });
    }
    // Log entries have no tiers: hourly counts by level and fingerprint stand for them in history.
    const logs = await c.query<{ n: string; span: number | null }>(
      'SELECT count(*) AS n, extract(epoch FROM max(ts) - min(ts))::float8 AS span FROM pgvigil.log_entries',
    );
    const logRows = Number(logs.rows[0]!.n);
    const logSpan = logs.rows[0]!.span ?? 0;
    if (logRows > 0 && logSpan >= 60) {
      const raw = ((await relBytes(c, 'log_entries')) * 86_400) / logSpan;
      out.push({ family: 'log_entries', rawRows: logRows, perDay: { raw, minute: 0, hourly: 0, daily: 0 } });
    }
    return out;
  } finally {
    await c.end();
  }
}

const mib = (b: number) => (b / 2 ** 20).toFixed(2);

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'pgvigil-storage-pg15-'));
  chmodSync(base, 0o755);
  const cluster = (name: string) =>
    startCluster({
      binDir: '/usr/lib/postgresql/15/bin',
      pgdata: join(base, name),
      superuser: 'bench',
      password: 'bench-pw',
      logFile: join(base, `${name}.log`),
      runAsUser: 'pgvigil',
      settings: { shared_preload_libraries: 'pg_stat_statements', track_io_timing: 'on', fsync: 'off' },
      log: silentLogger(),
    });
  const stores = await cluster('stores');
  const watched = await cluster('watched');
  const runs: Run[] = [];
  try {
    runs.push(await start(stores, watched, 'pglz'), await start(stores, watched, 'lz4'));
    process.stdout.write(`collecting for ${minutes} min…\n`);
    await new Promise((r) => setTimeout(r, minutes * 60_000));
    const [plain, lz4] = await Promise.all(runs.map(measure));
    const byName = new Map(lz4!.map((f) => [f.family, f]));
    const rows = plain!.sort((a, b) => b.perDay.raw - a.perDay.raw);
    const total = { raw: 0, minute: 0, hourly: 0, daily: 0, rawLz4: 0, minuteLz4: 0 };
    process.stdout.write(
      `\nMiB per host per day (one host: this machine and its store's PostgreSQL with a pgbench database), ${minutes} min of collection scaled to a day\n\n`,
    );
    process.stdout.write(
      '| family | raw | minute | hourly | daily | raw, lz4 | minute, lz4 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n',
    );
    for (const f of rows) {
      const l = byName.get(f.family);
      total.raw += f.perDay.raw;
      total.minute += f.perDay.minute;
      total.hourly += f.perDay.hourly;
      total.daily += f.perDay.daily;
      total.rawLz4 += l?.perDay.raw ?? 0;
      total.minuteLz4 += l?.perDay.minute ?? 0;
      process.stdout.write(
        `| ${f.family} | ${mib(f.perDay.raw)} | ${mib(f.perDay.minute)} | ${mib(f.perDay.hourly)} | ${mib(f.perDay.daily)} | ${l ? mib(l.perDay.raw) : '—'} | ${l ? mib(l.perDay.minute) : '—'} |\n`,
      );
    }
    process.stdout.write(
      `| **all** | **${mib(total.raw)}** | **${mib(total.minute)}** | **${mib(total.hourly)}** | **${mib(total.daily)}** | **${mib(total.rawLz4)}** | **${mib(total.minuteLz4)}** |\n`,
    );
  } finally {
    for (const r of runs) {
      r.bench?.kill('SIGTERM');
      r.child.kill('SIGTERM');
      await new Promise((res) => (r.child.exitCode !== null ? res(null) : r.child.once('exit', res)));
      rmSync(r.dir, { recursive: true, force: true });
    }
    await stores.stop();
    await watched.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
