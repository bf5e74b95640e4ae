/**
 * History for the baselines and anomaly benches, generated in SQL: per server a host (4 cores + total,
 * memory, load, 2 disks, 2 interfaces) and one PostgreSQL target (2 databases, 4 activity groups, a
 * standby, 30 tables, 30 statements, WAL, checkpoints) — 8 weeks of hourly rollups (every value column:
 * gauges around 50, counters +2 a second) and the last 20 minutes of raw rows every 10 s, their hours
 * pending as the ingest writer leaves them.
 */
import type pg from 'pg';
import { families } from '../src/protocol/families/index.js';
import { pgTypeNames, quoteIdent as q } from '../src/storage/ddl.js';
import { rollupSpecs } from '../src/storage/rollups.js';

const minute = 60_000;

/** The series of each family, by their label values. */
export const historySeries: Record<string, string[][]> = {
  host_cpu: [['total'], ['0'], ['1'], ['2'], ['3']],
  host_memory: [[]],
  host_load: [[]],
  host_disk: [['sda'], ['sdb']],
  host_network: [['eth0'], ['lo']],
  pg_database: [['app'], ['postgres']],
  pg_wal: [[]],
  pg_activity: [
    ['app', 'web', 'puma', 'client backend', 'active'],
    ['app', 'web', 'puma', 'client backend', 'idle'],
    ['app', 'batch', 'cron', 'client backend', 'idle in transaction'],
    ['', '', '', 'autovacuum worker', ''],
  ],
  pg_replication: [['replica1', '10.0.0.2', '4242']],
  pg_tables: Array.from({ length: 30 }, (_, i) => ['app', 'public', `t${i}`]),
  pg_statements: Array.from({ length: 30 }, (_, i) => [String(1000 + i), '5', '10']),
  pg_bgwriter: [[]],
};

/**
 * Per server in `ids` (with its target in `targets`), the families `only` (default every family above):
 * with `hourly`, 8 weeks of hourly rollups ending at hour `H`; the last 20 minutes of raw rows before
 * `now`, their hours pending.
 */
export async function seedServerHistory(
  pool: pg.Pool,
  ids: number[],
  targets: number[],
  H: number,
  now: number,
  opts: { only?: readonly string[]; hourly?: boolean } = {},
): Promise<void> {
  for (const [family, labelSets] of Object.entries(historySeries)) {
    if (opts.only && !opts.only.includes(family)) continue;
    const spec = rollupSpecs[family]!;
    const target = spec.family.scope === 'target';
    const labelCols = spec.labels.map((l) => l.name);
    const values = labelSets
      .map((set) => `(${set.map((v, i) => `'${v}'::${pgTypeNames[spec.labels[i]!.type]}`).join(', ')})`)
      .join(', ');
    const fromLabels =
      labelCols.length > 0 ? `, (VALUES ${values}) AS l(${labelCols.map(q).join(', ')})` : '';
    const lcols = labelCols.map(q).join(', ') + (labelCols.length ? ', ' : '');
    const lvals = labelCols.map((c) => `l.${q(c)}`).join(', ') + (labelCols.length ? ', ' : '');
    const cols = spec.columns.map((c) => q(c.name));
    const exprs = spec.columns.map((c) =>
      c.agg === 'increase' ? `(7200 + (k % 3) * 360)::${c.pgType}` : `(50 + (k % 5) - 2)::${c.pgType}`,
    );
    if (opts.hourly !== false)
      await pool.query(
        `INSERT INTO pgvigil.${q(`${family}_hourly`)} (server_id, ${target ? 'target_id, ' : ''}${lcols}ts, samples, ${cols.join(', ')})
       SELECT s.id, ${target ? 's.tid, ' : ''}${lvals}$3::timestamptz - k * interval '1 hour', 360, ${exprs.join(', ')}
         FROM generate_series(1, 56 * 24) k, unnest($1::bigint[], $2::bigint[]) AS s(id, tid)${fromLabels}`,
        [ids, targets, new Date(H)],
      );
    const numeric = families[family]!.columns.filter(
      (c) => !c.label && ['int4', 'int8', 'float4', 'float8'].includes(c.type),
    );
    const rawExprs = numeric.map((c) =>
      c.counter ? `(extract(epoch FROM t) * 2)::${pgTypeNames[c.type]}` : `50::${pgTypeNames[c.type]}`,
    );
    await pool.query(
      `INSERT INTO pgvigil.${q(family)} (server_id, ${target ? 'target_id, ' : ''}ts, ${lcols}${numeric.map((c) => q(c.name)).join(', ')})
       SELECT s.id, ${target ? 's.tid, ' : ''}t, ${lvals}${rawExprs.join(', ')}
         FROM generate_series($3::timestamptz, $4::timestamptz, interval '10 seconds') t,
              unnest($1::bigint[], $2::bigint[]) AS s(id, tid)${fromLabels}`,
      [ids, targets, new Date(now - 20 * minute), new Date(now - 1000)],
    );
  }
  await pool.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT id, 'hourly', h FROM unnest($1::bigint[]) id,
            generate_series(date_trunc('hour', $2::timestamptz), $3::timestamptz, interval '1 hour') h
     ON CONFLICT DO NOTHING`,
    [ids, new Date(now - 20 * minute), new Date(now - 1000)],
  );
  await pool.query('UPDATE pgvigil.servers SET last_seen_at = $2 WHERE server_id = ANY($1::bigint[])', [
    ids,
    new Date(now),
  ]);
  await pool.query('ANALYZE');
}
