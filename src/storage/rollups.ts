/**
 * Rollup tiers, derived from the metric family specs: which families are rolled up, the columns of their
 * `<family>_minute`, `<family>_hourly` and `<family>_daily` tables, their DDL (from which
 * scripts/gen-rollup-migration.mjs generated migrations 0008 — hourly and daily — and 0011 — minute) and
 * the SQL that rolls one bucket.
 *
 * The minute tier is rolled together with the hour it lies in: rolling an hour writes its hourly row and
 * its (up to) 60 minute rows per series in one statement, from the same raw rows, so the minute tier is
 * complete wherever the hourly tier is. The minute tier of the hour still running is also rolled on its own,
 * a minute or two behind the clock (src/server/jobs/rollups.ts, `rollMinutes`), so that charts and the
 * fleet read minute rows, not raw ones, for all but the last minutes.
 *
 * A rollup row holds, per series (server, target, labels) and bucket (`ts` = bucket start, UTC):
 * - `samples`: raw rows in the bucket;
 * - per gauge column: `<col>_avg`, `<col>_min`, `<col>_max`, and `<col>_p95` for float gauges (the
 *   percent and rate columns, where the tail matters);
 * - per counter column (ColumnSpec.counter): `<col>`, the increase over the bucket: the sum of the steps
 *   between consecutive samples whose later sample lies in the bucket, the step into the bucket from the
 *   last sample before it included. A step where the value went down is a reset: it counts the new value
 *   (the counter restarted from 0), never a negative number. A step across a gap longer than
 *   `counterMaxGapSeconds` is not counted (what happened in the gap cannot be placed in a bucket). So
 *   hourly increases add up exactly to the daily increase. No step at all gives NULL, not 0.
 * Text, boolean, timestamp and JSON columns are not rolled up: they have no average.
 *
 * Every name here comes from the family registry, never from input.
 */
import { type ColumnSpec, type ColumnType, type FamilySpec, families } from '../protocol/families/index.js';
import { pgTypeNames, quoteIdent as q } from './ddl.js';

export type RollupTier = 'minute' | 'hourly' | 'daily';
export const rollupTiers: readonly RollupTier[] = ['minute', 'hourly', 'daily'];
/**
 * Tiers a roll statement writes: an hour (with its minutes), a day, or a run of minutes of the hour still
 * running (the minute tier alone).
 */
export type RolledTier = 'minute' | 'hourly' | 'daily';

/** Bucket length per tier, ms. */
export const tierMs: Record<RollupTier, number> = { minute: 60_000, hourly: 3_600_000, daily: 86_400_000 };

/** Longest gap between two samples of a counter whose step is still counted (and the look-back before a bucket). */
export const counterMaxGapSeconds = 3600;

/**
 * Raw rows read before the start of a range for counters' previous samples. A series with no sample in that
 * short window (a collection interval longer than it, or a gap) finds its previous sample through the minute
 * tier instead: the series' last minute row before the window (an index lookup: the minute tables are keyed
 * by series, then ts) names the minute whose raw rows hold it. So the step is the same as a look-back of
 * `counterMaxGapSeconds` over raw rows would give, at the cost of two minutes of rows instead of an hour.
 * This needs the minute tier complete before the window; callers say from where raw rows must be read
 * instead (`lookbackFrom`).
 */
export const rawLookbackSeconds = 120;

/**
 * Families left out of rollups, with the reason. Every `once` family must be here (a test checks it).
 */
export const rollupSkipped: Readonly<Record<string, string>> = {
  pg_statement_texts: 'stored once per statement (family `once`): no time series to roll up',
  pg_settings:
    'a snapshot of text settings, sent when it changes: averages mean nothing and the raw rows are the history',
};

export type RollupAgg = 'avg' | 'min' | 'max' | 'p95' | 'increase';

export interface RollupColumn {
  /** Column name in the rollup table. */
  name: string;
  /** PostgreSQL type name. */
  pgType: string;
  /** The raw column it is computed from. */
  source: string;
  agg: RollupAgg;
}

export interface RollupSpec {
  family: FamilySpec;
  /** The series key before ts: server_id, target_id for target families, then the label columns. */
  keys: string[];
  labels: ColumnSpec[];
  gauges: ColumnSpec[];
  counters: ColumnSpec[];
  /** Value columns after `samples`, in table order. */
  columns: RollupColumn[];
}

const numeric = new Set<ColumnType>(['int4', 'int8', 'float4', 'float8']);
const float = new Set<ColumnType>(['float4', 'float8']);

export function isNumeric(c: ColumnSpec): boolean {
  return numeric.has(c.type);
}

/** Whether a gauge column gets a p95 column (float gauges: percentages and rates). */
export function hasP95(c: ColumnSpec): boolean {
  return !c.counter && float.has(c.type);
}

/** The rollup layout of a family, or undefined when it is not rolled up. */
export function rollupSpecOf(family: FamilySpec): RollupSpec | undefined {
  if (family.name in rollupSkipped) return undefined;
  if (family.once) throw new Error(`family ${family.name} is "once" but not in rollupSkipped`);
  const labels = family.columns.filter((c) => c.label);
  const values = family.columns.filter((c) => !c.label && isNumeric(c));
  const counters = values.filter((c) => c.counter);
  const gauges = values.filter((c) => !c.counter);
  const columns: RollupColumn[] = [];
  for (const c of values) {
    const type = pgTypeNames[c.type];
    if (c.counter) {
      columns.push({ name: c.name, pgType: type, source: c.name, agg: 'increase' });
      continue;
    }
    columns.push({ name: `${c.name}_avg`, pgType: 'double precision', source: c.name, agg: 'avg' });
    columns.push({ name: `${c.name}_min`, pgType: type, source: c.name, agg: 'min' });
    columns.push({ name: `${c.name}_max`, pgType: type, source: c.name, agg: 'max' });
    if (hasP95(c))
      columns.push({ name: `${c.name}_p95`, pgType: 'double precision', source: c.name, agg: 'p95' });
  }
  const keys = [
    'server_id',
    ...(family.scope === 'target' ? ['target_id'] : []),
    ...labels.map((l) => l.name),
  ];
  const names = new Set<string>([...keys, 'ts', 'samples']);
  for (const c of columns) {
    if (names.has(c.name)) throw new Error(`rollup of ${family.name}: column ${c.name} would appear twice`);
    names.add(c.name);
  }
  return { family, keys, labels, gauges, counters, columns };
}

/** Every rolled-up family, by name. */
export const rollupSpecs: Readonly<Record<string, RollupSpec>> = Object.fromEntries(
  Object.values(families).flatMap((f) => {
    const s = rollupSpecOf(f);
    return s ? [[f.name, s] as const] : [];
  }),
);

export function rollupTable(family: string, tier: RollupTier): string {
  return `${family}_${tier}`;
}

/** CREATE TABLE statements for one family's rollup tables (every tier, or the tiers given). */
export function rollupTablesDdl(spec: RollupSpec, tiers: readonly RollupTier[] = rollupTiers): string {
  const out: string[] = [];
  for (const tier of tiers) {
    const lines = [
      '  server_id bigint NOT NULL,',
      ...(spec.family.scope === 'target' ? ['  target_id bigint NOT NULL,'] : []),
      ...spec.labels.map((l) => `  ${l.name} ${pgTypeNames[l.type]} NOT NULL,`),
      '  ts timestamptz NOT NULL,',
      '  samples integer NOT NULL,',
      ...spec.columns.map((c) => `  ${c.name} ${c.pgType},`),
      `  PRIMARY KEY (${[...spec.keys, 'ts'].join(', ')})`,
    ];
    out.push(
      `CREATE TABLE pgvigil.${rollupTable(spec.family.name, tier)} (\n${lines.join('\n')}\n) PARTITION BY RANGE (ts);`,
    );
  }
  return out.join('\n\n');
}

/**
 * The reset-aware step of counter `c` into the current sample, given `prev_ts` and `<c>__prev` from a
 * window over the series; NULL when there is no usable previous sample.
 */
export function counterStepSql(c: string): string {
  return `CASE WHEN prev_ts >= ts - interval '${counterMaxGapSeconds} seconds' AND ${q(c)} IS NOT NULL AND ${q(`${c}__prev`)} IS NOT NULL
       THEN CASE WHEN ${q(c)} >= ${q(`${c}__prev`)} THEN ${q(c)} - ${q(`${c}__prev`)} ELSE ${q(c)} END END`;
}

/** Where and what a raw read with counter steps covers (SQL expressions, already parameterised). */
export interface RawRange {
  /** Conditions other than ts (server, target, labels), joined with AND. */
  filters: string[];
  /** The range's start: rows from here on are the caller's. */
  start: string;
  /** The range's end (exclusive). */
  end: string;
  /**
   * The earliest raw row read for previous samples, at or before `start`: the minute tier must be complete
   * before it (it is where earlier previous samples are looked up). `start − rawLookbackSeconds` when the
   * minute tier is complete up to the range; earlier when it is not.
   */
  lookbackFrom: string;
}

/**
 * Raw rows of a family with what a counter step needs: `prev_ts` and `<counter>__prev` per counter (a
 * window over the series in ts order). Rows come from `range.lookbackFrom` on; the caller keeps only rows
 * from `range.start`. A series whose first row in the range has no earlier row in the look-back gets the
 * last sample before it (within `counterMaxGapSeconds`) through the minute tier: see `rawLookbackSeconds`.
 */
export function rawWithStepsSql(
  table: string,
  keys: readonly string[],
  columns: readonly ColumnSpec[],
  range: RawRange,
): string {
  const keyList = keys.map(q).join(', ');
  const counters = columns.filter((c) => c.counter);
  const gauges = columns.filter((c) => !c.counter);
  const lagCols = counters.map((c) => `lag(${q(c.name)}) OVER w AS ${q(`${c.name}__prev`)}`);
  const valueCols = [...gauges, ...counters].map((c) => q(c.name));
  const inRange = (from: string) => [...range.filters, `ts >= ${from}`, `ts < ${range.end}`].join(' AND ');
  if (counters.length === 0) {
    return `SELECT ${[keyList, 'ts', ...valueCols].join(', ')}
    FROM pgvigil.${q(table)}
   WHERE ${inRange(range.start)}`;
  }
  const rows = [keyList, 'ts', ...valueCols].join(', ');
  const spec = rollupSpecs[table];
  // Without a minute tier (never for a rolled family) only a full look-back gives every previous sample.
  const from = spec ? range.lookbackFrom : `${range.start} - interval '${counterMaxGapSeconds} seconds'`;
  const minute = spec ? `pgvigil.${q(rollupTable(table, 'minute'))}` : '';
  const same = (a: string, b: string) => keys.map((k) => `${a}.${q(k)} = ${b}.${q(k)}`).join(' AND ');
  const earlier = spec
    ? `
    UNION ALL
    SELECT o.* FROM (SELECT ${keyList} FROM pv_cur GROUP BY ${keyList} HAVING min(ts) >= ${range.start}) f
     CROSS JOIN LATERAL (
       SELECT m.ts AS minute FROM ${minute} m
        WHERE ${same('m', 'f')} AND m.ts < ${from}
          AND m.ts >= ${range.start} - interval '${counterMaxGapSeconds + 60} seconds'
        ORDER BY m.ts DESC LIMIT 1) lm
     CROSS JOIN LATERAL (
       SELECT ${keys.map((k) => `r.${q(k)}`).join(', ')}, r.ts, ${[...gauges, ...counters].map((c) => `r.${q(c.name)}`).join(', ')}
         FROM pgvigil.${q(table)} r
        WHERE ${same('r', 'f')} AND r.ts >= lm.minute AND r.ts < lm.minute + interval '1 minute'
        ORDER BY r.ts DESC LIMIT 1) o`
    : '';
  return `WITH pv_cur AS MATERIALIZED (
    SELECT ${rows} FROM pgvigil.${q(table)} WHERE ${inRange(from)}
  )
  SELECT ${rows}, lag(ts) OVER w AS prev_ts, ${lagCols.join(', ')}
    FROM (SELECT ${rows} FROM pv_cur${earlier}) pv_all
  WINDOW w AS (PARTITION BY ${keyList} ORDER BY ts)`;
}

/**
 * Rolls one bucket of one family for a set of servers: $1 server ids (bigint[]), $2 bucket start, $3 bucket
 * end. Upserts a row per series present in the bucket and deletes the tier's rows of those servers and that
 * bucket that the roll no longer produces, so rolling a bucket again gives exactly the same rows. Rolling an
 * hour also rolls its minutes into the minute tier, from the same raw rows in the same statement: a row per
 * series and minute with data, written ordered by (server, series, minute) so the rows of one server's hour
 * are contiguous, and the minute rows of the hour no longer produced deleted. Returns one row: `produced`
 * (rows written, every tier) and `deleted`.
 */
export function rollBucketSql(spec: RollupSpec, tier: RolledTier): string {
  const keyList = spec.keys.map(q).join(', ');
  const values = [...spec.gauges, ...spec.counters];
  // Every bucket before the one rolled is rolled already (buckets roll oldest first; minutes after the
  // minutes before them): the minute tier is complete before $2.
  const src = rawWithStepsSql(spec.family.name, spec.keys, values, {
    filters: ['server_id = ANY($1::bigint[])'],
    start: '$2::timestamptz',
    end: '$3::timestamptz',
    lookbackFrom: `$2::timestamptz - interval '${rawLookbackSeconds} seconds'`,
  });
  const aggs = spec.columns.map((c) => {
    const s = q(c.source);
    switch (c.agg) {
      case 'avg':
        return `avg(${s})::double precision`;
      case 'min':
        return `min(${s})`;
      case 'max':
        return `max(${s})`;
      case 'p95':
        return `percentile_cont(0.95) WITHIN GROUP (ORDER BY ${s})`;
      case 'increase':
        return `sum(${counterStepSql(c.source)})::${c.pgType}`;
    }
    return '';
  });
  const insertCols = [...spec.keys, 'ts', 'samples', ...spec.columns.map((c) => c.name)].map(q).join(', ');
  const updates = ['samples', ...spec.columns.map((c) => c.name)].map((c) => `${q(c)} = EXCLUDED.${q(c)}`);
  const sameKey = [...spec.keys, 'ts'].map((k) => `p.${q(k)} = r.${q(k)}`).join(' AND ');
  const write = (t: RollupTier, n: number) => {
    const table = `pgvigil.${q(rollupTable(spec.family.name, t))}`;
    const bucket =
      t === 'minute' ? `date_bin('1 minute', ts, '1970-01-01T00:00:00Z'::timestamptz)` : '$2::timestamptz';
    const inBucket =
      t === 'minute' ? 'r.ts >= $2::timestamptz AND r.ts < $3::timestamptz' : 'r.ts = $2::timestamptz';
    return `produced${n} AS (
  INSERT INTO ${table} (${insertCols})
  SELECT ${keyList}, ${bucket}, count(*)::int${aggs.map((a) => `,\n         ${a}`).join('')}
    FROM src
   WHERE ts >= $2::timestamptz
   GROUP BY ${keyList}, ${bucket}
   ORDER BY ${keyList}, ${bucket}
  ON CONFLICT (${keyList}, ts) DO UPDATE SET ${updates.join(', ')}
  RETURNING ${keyList}, ts
), gone${n} AS (
  DELETE FROM ${table} r
   WHERE r.server_id = ANY($1::bigint[]) AND ${inBucket}
     AND NOT EXISTS (SELECT 1 FROM produced${n} p WHERE ${sameKey})
  RETURNING 1
)`;
  };
  const tiers: RollupTier[] = tier === 'hourly' ? ['hourly', 'minute'] : [tier];
  // A run of minutes ([$2, $3) on minute boundaries) writes only minute rows, grouped like an hour's.
  const sum = (what: string) => tiers.map((_, n) => `(SELECT count(*) FROM ${what}${n})`).join(' + ');
  return `WITH src AS (
  ${src}
), ${tiers.map(write).join(', ')}
SELECT (${sum('produced')})::int AS produced, (${sum('gone')})::int AS deleted`;
}
