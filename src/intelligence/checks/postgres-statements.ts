/**
 * Statement checks in the findings job (they need a window of history and a join of statements with
 * their texts and with tables):
 * - pg.slow_statement: statements whose mean execution time over the last hour is high;
 * - pg.statement_regression: statements whose mean over the last hour jumped against their own previous
 *   7 days (hourly rollup);
 * - pg.missing_index: large tables read by repeated sequential scans, with the statements of the same
 *   database that name them and the columns of their WHERE clause — the index to create.
 *
 * Their `load` cannot see per-server thresholds, so it reads with the lowest values the thresholds accept
 * (each spec's `min`) and `evaluate` applies the thresholds in force. A target that answered within the
 * last 10 minutes counts as evaluated: its findings that no longer hold clear.
 */
import type { TargetRef } from '../../storage/queries/check-pass.sql.js';
import { targetPorts } from '../../storage/queries/findings.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import {
  answeredTargets,
  type ScannedTable,
  type StatementPast,
  sequentiallyScannedTables,
  statementPast,
  statementWindow,
  type TableStatement,
  type WindowStatement,
} from '../../storage/queries/statement-findings.sql.js';
import { inBackgroundRead } from '../../storage/tx.js';
import type { Evidence } from '../model.js';
import { FleetPass } from './fleet-pass.js';
import { objectIn, portOf, portsSince, psqlCommand } from './psql.js';
import { findTableReference, whereColumns } from './sql-where.js';
import {
  type JobCheck,
  type JobObservation,
  onePerRun,
  type Scope,
  type Slice,
  type Thresholds,
} from './types.js';
import { cut, grade, humanBytes, ident, qualified, round2 } from './util.js';

const hour = 3_600_000;
/** The window the job checks judge: the last hour. */
export const statementWindowMs = hour;
/**
 * The statement checks run every 5 minutes, not every run of the job: each sums an hour of statements,
 * which a minute more moves little, and at a thousand servers that read is the job's largest.
 */
export const statementChecksIntervalMs = 5 * 60_000;
/** Targets that answered this recently are the scopes evaluated. */
const answeredWithinMs = 10 * 60_000;
const textLength = 2000;

/** The window reads' statement timeout: a run of the job that cannot read them fails these checks only. */
const windowReadTimeoutMs = 120_000;
/**
 * Targets one slice reads, at most: their slowest statements are at most 50,000 rows with their texts.
 * A run reads the fleet slice after slice (`JobCheck.slices`); a fleet of one slice in one scan of the
 * hour, a larger one by an index range per target.
 */
const sliceTargets = 1000;
/** The name of the checks' read in slices (`JobCheck.slices`), and of their job's runs. */
export const statementHourSlices = 'statement hour';
/**
 * A pass judges every target that answered when it began once (`pgvigil.check_pass`, pass 'statements'):
 * over one run or, past 2 minutes of a run (its budget), several, on any instance. A new one begins at most
 * once per the checks' interval (less a little, for the runs' jitter), whichever instance asks first. Its
 * findings wait two passes and a run before they resolve by time, at most 6 hours.
 */
const statementPass = new FleetPass({
  name: 'statements',
  gapMs: statementChecksIntervalMs - 30_000,
  sliceRows: sliceTargets,
  runBudgetMs: 2 * 60_000,
  intervalMs: statementChecksIntervalMs,
  maxStaleMs: 6 * hour,
});

/** How long a statement finding may go without an evaluation before it resolves by time (FleetPass.staleMs). */
export const statementStaleMs = (now: number): number => statementPass.staleMs(now);

const targetKey = (t: TargetRef) => `${t.serverId}|${t.targetId}`;
/** Statements read per target: the regression check judges them all, the slow check the first 20. */
const statementsPerTarget = 50;
const slowPerTarget = 20;
/** Tables read per target for the missing-index check: those whose sequential scans read the most rows. */
const tablesPerTarget = 50;

interface HourRead {
  tables: ScannedTable[];
  slowest: WindowStatement[];
  naming: TableStatement[];
}

/** The hour of `targets` (of every target when absent) in the snapshot of `c`. */
async function readHour(
  c: Queryable,
  from: Date,
  to: Date,
  targets?: readonly TargetRef[],
): Promise<HourRead> {
  const floors = pgMissingIndex.thresholds;
  const tables = await sequentiallyScannedTables(c, {
    from,
    to,
    ...(targets ? { targets } : {}),
    minRows: floors.min_rows!.min!,
    minBytes: floors.min_table_bytes!.min!,
    minScans: floors.min_seq_scans!.min!,
    perTarget: tablesPerTarget,
  });
  const window = await statementWindow(c, {
    from,
    to,
    ...(targets ? { targets } : {}),
    minCalls: 1,
    perTarget: statementsPerTarget,
    textLength,
    tables,
    minNamingCalls: floors.min_calls!.min!,
    perTable: 5,
  });
  return { tables, slowest: window.slowest, naming: window.naming };
}

/** What of `read` concerns `targets` (the tables renumbered for `naming`). */
function ofTargets(read: HourRead, targets: readonly TargetRef[]): HourRead {
  const keys = new Set(targets.map(targetKey));
  const tables: ScannedTable[] = [];
  const renumbered = new Map<number, number>();
  read.tables.forEach((t, i) => {
    if (!keys.has(targetKey(t))) return;
    renumbered.set(i, tables.length);
    tables.push(t);
  });
  const naming: TableStatement[] = [];
  for (const x of read.naming) {
    const table = renumbered.get(x.table);
    if (table !== undefined) naming.push({ ...x, table });
  }
  return { tables, slowest: read.slowest.filter((x) => keys.has(targetKey(x))), naming };
}

/** Reads of consecutive parts of a slice, put together in their order (the tables renumbered). */
function joinReads(reads: readonly HourRead[]): HourRead {
  const out: HourRead = { tables: [], slowest: [], naming: [] };
  for (const r of reads) {
    const offset = out.tables.length;
    out.tables.push(...r.tables);
    out.slowest.push(...r.slowest);
    for (const x of r.naming) out.naming.push({ ...x, table: x.table + offset });
  }
  return out;
}

/**
 * The read the three checks share, once per slice of a run (onePerRun): the slice's targets (of those that
 * answered lately), their large tables scanned sequentially over the last hour, and their hour's
 * statements — the slowest per target and those naming such a table — summed once. It is the job's
 * largest read, so it runs in read-only snapshots planned without parallel workers (`inBackgroundRead`:
 * on a standby that holds the hour when there is one): on the store ingest writes to, it must not take
 * every core. A slice's parts are read side by side on `Slice.readers` connections.
 */
const statementHour = onePerRun(async (db, now, run) => {
  const from = new Date(now.getTime() - statementWindowMs);
  const slice = run as Slice | undefined;
  const background = <T>(fn: (c: Queryable) => Promise<T>) =>
    inBackgroundRead(db, windowReadTimeoutMs, { from, to: now }, fn);
  const answeredFrom = new Date(now.getTime() - answeredWithinMs);
  const { taken: targets, size } = await statementPass.take(db, now, slice, () =>
    answeredTargets(answeredFrom, now),
  );
  let read: HourRead;
  if (targets.length === 0) read = { tables: [], slowest: [], naming: [] };
  else if (targets.length === size) {
    // A slice of every target reads the window whole: cheaper than a range per target (the storage
    // functions say by how much). The window also holds targets that no longer answer: not judged.
    read = ofTargets(await background((c) => readHour(c, from, now)), targets);
  } else {
    const partSize = Math.ceil(targets.length / Math.max(1, slice?.readers ?? 1));
    const parts: TargetRef[][] = [];
    for (let i = 0; i < targets.length; i += partSize) parts.push(targets.slice(i, i + partSize));
    read = joinReads(await Promise.all(parts.map((part) => background((c) => readHour(c, from, now, part)))));
  }
  return { targets, ...read };
});

const scopesOf = (targets: readonly TargetRef[]): Scope[] =>
  targets.map((t) => ({ serverId: t.serverId, targetId: t.targetId }));

function statementEvidence(s: WindowStatement): Evidence {
  return {
    queryid: s.queryid,
    dbid: s.dbid,
    datname: s.datname,
    calls: s.calls,
    mean_exec_time_ms: round2(s.meanMs),
    total_exec_time_ms: round2(s.execTimeMs),
    rows: s.rows,
    query: s.query === null ? null : cut(s.query),
    window_s: statementWindowMs / 1000,
  };
}

/** What to run for a slow statement: EXPLAIN it with real parameters, and where to read its history. */
function explainAction(s: WindowStatement): string {
  const text = s.query === null ? `<text of queryid ${s.queryid}>` : cut(s.query).replace(/;\s*$/, '');
  const params = /\$\d/.test(text) ? ' (replace each $n by a real value first: the text is normalised)' : '';
  return (
    `-- in database ${s.datname}${params}:\nEXPLAIN (ANALYZE, BUFFERS) ${text};\n` +
    `-- its counters: SELECT calls, mean_exec_time, total_exec_time, rows, shared_blks_read FROM pg_stat_statements WHERE queryid = ${s.queryid};`
  );
}

const statementObject = (s: { datname: string; queryid: string }) => `${s.datname}/query:${s.queryid}`;

/** The first `n` statements of each target (they come grouped by target, in rank order). */
function firstPerTarget(statements: readonly WindowStatement[], n: number): WindowStatement[] {
  const seen = new Map<string, number>();
  return statements.filter((s) => {
    const k = `${s.serverId}|${s.targetId}`;
    const i = seen.get(k) ?? 0;
    seen.set(k, i + 1);
    return i < n;
  });
}

export interface SlowStatementInput {
  targets: TargetRef[];
  statements: WindowStatement[];
}

export const pgSlowStatement: JobCheck<SlowStatementInput> = {
  id: 'pg.slow_statement',
  group: 'postgres',
  mode: 'job',
  kind: 'recommendation',
  title: 'Slow statement (high mean execution time)',
  doc: {
    evidence:
      'queryid, database, calls, mean and total execution time, rows over the last hour, the text (cut)',
    action:
      'EXPLAIN (ANALYZE, BUFFERS) with the $n parameters filled in, and its pg_stat_statements counters',
  },
  thresholds: {
    info: { default: 500, unit: 'ms', help: 'mean execution time over the last hour', min: 1 },
    warning: { default: 2000, unit: 'ms', help: 'mean execution time over the last hour', min: 1 },
    min_calls: {
      default: 3,
      unit: 'count',
      help: 'calls in the last hour below which it is not judged',
      min: 1,
    },
  },
  intervalMs: statementChecksIntervalMs,
  slices: statementHourSlices,
  staleMs: statementStaleMs,
  async load(db: Queryable, now: Date, run?: object): Promise<SlowStatementInput> {
    const { targets, slowest } = await statementHour(db, now, run);
    return { targets, statements: firstPerTarget(slowest, slowPerTarget) };
  },
  evaluate(input, thresholdsFor) {
    return {
      observations: slowObservations(input.statements, thresholdsFor),
      scopes: scopesOf(input.targets),
    };
  },
};

function slowObservations(
  statements: readonly WindowStatement[],
  thresholdsFor: (serverId: number, targetId: number | null) => Thresholds,
): JobObservation[] {
  const out: JobObservation[] = [];
  const perTarget = new Map<string, number>();
  for (const s of statements) {
    const t = thresholdsFor(s.serverId, s.targetId);
    if (!(s.calls >= t.min_calls!)) continue;
    const severity = grade(s.meanMs, t, { info: 'info', warning: 'warning' });
    if (!severity) continue;
    const k = `${s.serverId}|${s.targetId}`;
    const n = perTarget.get(k) ?? 0;
    if (n >= 10) continue;
    perTarget.set(k, n + 1);
    out.push({
      serverId: s.serverId,
      targetId: s.targetId,
      object: statementObject(s),
      severity,
      title: `Statement ${s.queryid} in ${cut(s.datname, 100)} takes ${Math.round(s.meanMs)} ms on average`,
      explanation:
        `Over the last hour this statement ran ${s.calls} times in database ${s.datname} and took ${round2(s.meanMs)} ms per call (${round2(s.execTimeMs / 1000)} s in all). ` +
        'EXPLAIN (ANALYZE, BUFFERS) shows where the time goes: a sequential scan of a big table (a missing index), a sort or hash spilling to disk, or many rows read for few returned.' +
        (s.query === null ? ' Its text has not arrived yet.' : ` Statement: ${cut(s.query, 200)}`),
      evidence: statementEvidence(s),
      action: explainAction(s),
      value: round2(s.meanMs),
    });
  }
  return out;
}

export interface RegressionInput {
  targets: TargetRef[];
  statements: WindowStatement[];
  past: StatementPast[];
}

export const pgStatementRegression: JobCheck<RegressionInput> = {
  id: 'pg.statement_regression',
  group: 'postgres',
  mode: 'job',
  kind: 'alert',
  title: 'Statement much slower than over its previous 7 days',
  doc: {
    evidence:
      'queryid, database, mean over the last hour and over the previous 7 days, the ratio, calls in both, the text (cut)',
    action:
      'EXPLAIN (ANALYZE, BUFFERS) with the $n parameters filled in; compare with the plan it had (statistics, a dropped index, data growth)',
  },
  thresholds: {
    ratio: {
      default: 3,
      unit: 'ratio',
      help: 'mean over the last hour ÷ mean over the previous 7 days',
      min: 1.1,
    },
    min_increase_ms: {
      default: 100,
      unit: 'ms',
      help: 'the mean must also have grown by this much',
      min: 0,
    },
    min_calls: { default: 5, unit: 'count', help: 'calls in the last hour', min: 1 },
    min_past_calls: { default: 20, unit: 'count', help: 'calls in the previous 7 days', min: 1 },
  },
  intervalMs: statementChecksIntervalMs,
  slices: statementHourSlices,
  staleMs: statementStaleMs,
  async load(db, now, run) {
    const from = new Date(now.getTime() - statementWindowMs);
    const { targets, slowest: statements } = await statementHour(db, now, run);
    // The previous 7 days end where the window's first whole hour begins: an hourly bucket overlapping
    // the window would mix the two.
    const until = new Date(Math.floor(from.getTime() / hour) * hour);
    const since = new Date(until.getTime() - 7 * 24 * hour);
    const past = await inBackgroundRead(db, windowReadTimeoutMs, { from: since, to: until }, (c) =>
      statementPast(c, statements, since, until),
    );
    return { targets, statements, past };
  },
  evaluate(input, thresholdsFor) {
    const past = new Map(input.past.map((p) => [`${p.serverId}|${p.targetId}|${p.queryid}|${p.dbid}`, p]));
    const out: JobObservation[] = [];
    for (const s of input.statements) {
      const t = thresholdsFor(s.serverId, s.targetId);
      const p = past.get(`${s.serverId}|${s.targetId}|${s.queryid}|${s.dbid}`);
      if (!p || !(s.calls >= t.min_calls!) || !(p.calls >= t.min_past_calls!) || !(p.calls > 0)) continue;
      const before = p.execTimeMs / p.calls;
      if (!Number.isFinite(before) || before < 0) continue;
      const ratio = before > 0 ? s.meanMs / before : Number.POSITIVE_INFINITY;
      if (!(ratio > t.ratio!) || !(s.meanMs - before > t.min_increase_ms!)) continue;
      out.push({
        serverId: s.serverId,
        targetId: s.targetId,
        object: statementObject(s),
        severity: 'warning',
        title: `Statement ${s.queryid} in ${cut(s.datname, 100)} got ${Number.isFinite(ratio) ? `${round2(ratio)}×` : 'much'} slower (${Math.round(before)} → ${Math.round(s.meanMs)} ms)`,
        explanation:
          `This statement took ${round2(s.meanMs)} ms per call over the last hour (${s.calls} calls) against ${round2(before)} ms over the previous 7 days (${p.calls} calls). ` +
          'A jump like this usually means a new plan: statistics gone stale after a big change (ANALYZE the tables it reads), a dropped or invalid index, a parameter that now matches many more rows, or contention (locks, I/O).' +
          (s.query === null ? '' : ` Statement: ${cut(s.query, 200)}`),
        evidence: {
          ...statementEvidence(s),
          past_mean_exec_time_ms: round2(before),
          past_calls: p.calls,
          ratio: Number.isFinite(ratio) ? round2(ratio) : null,
        },
        action: explainAction(s),
        value: Number.isFinite(ratio) ? round2(ratio) : null,
      });
    }
    return { observations: out, scopes: scopesOf(input.targets) };
  },
};

export interface MissingIndexInput {
  targets: TargetRef[];
  tables: ScannedTable[];
  statements: TableStatement[];
  /** The port of a table's target (`serverId/targetId`), when its settings name one. */
  ports?: ReadonlyMap<string, string>;
}

export const pgMissingIndex: JobCheck<MissingIndexInput> = {
  id: 'pg.missing_index',
  group: 'postgres',
  mode: 'job',
  kind: 'recommendation',
  title: 'Large table read by repeated sequential scans (missing index)',
  doc: {
    evidence:
      'database, table, rows and size, sequential scans and rows they read over the last hour, the statements naming it (queryid, calls, mean time, text cut) and the columns of their WHERE clause',
    action:
      'psql -d <db> -c "CREATE INDEX CONCURRENTLY ON schema.table (col1, col2);" when the columns can be read, else EXPLAIN (ANALYZE, BUFFERS) of the statement',
  },
  thresholds: {
    min_rows: {
      default: 10_000,
      unit: 'count',
      help: 'tables with fewer live rows (and less than min_table_bytes) are not judged',
      min: 1000,
    },
    min_table_bytes: {
      default: 10 * 1024 * 1024,
      unit: 'bytes',
      help: 'tables this big are judged whatever their row count',
      min: 1024 * 1024,
    },
    min_seq_scans: {
      default: 20,
      unit: 'count',
      help: 'sequential scans of the table in the last hour',
      min: 5,
    },
    min_read_pct: {
      default: 50,
      unit: '%',
      help: 'rows read per sequential scan as a share of the live rows (a scan that stops early, LIMIT, is not the problem)',
      min: 1,
      max: 100,
    },
    min_calls: {
      default: 10,
      unit: 'count',
      help: 'calls in the last hour of a statement naming the table',
      min: 5,
    },
  },
  intervalMs: statementChecksIntervalMs,
  slices: statementHourSlices,
  staleMs: statementStaleMs,
  async load(db, now, run) {
    const { targets, tables, naming } = await statementHour(db, now, run);
    // Only the targets with a table to judge: the few a command may be written for.
    const withTables = new Map(tables.map((t) => [`${t.serverId}/${t.targetId}`, t]));
    const ports = await targetPorts(db, [...withTables.values()], portsSince(now));
    return { targets, tables, statements: naming, ports };
  },
  evaluate(input, thresholdsFor) {
    const byTable = new Map<number, TableStatement[]>();
    for (const s of input.statements) {
      const list = byTable.get(s.table) ?? [];
      list.push(s);
      byTable.set(s.table, list);
    }
    const out: JobObservation[] = [];
    input.tables.forEach((tb, i) => {
      const t = thresholdsFor(tb.serverId, tb.targetId);
      if (!(tb.nLiveTup >= t.min_rows! || tb.tableBytes >= t.min_table_bytes!)) return;
      if (!(tb.seqScans >= t.min_seq_scans!) || !(tb.nLiveTup > 0)) return;
      const perScan = tb.seqTupRead / tb.seqScans;
      const readPct = (100 * perScan) / tb.nLiveTup;
      if (!(readPct >= t.min_read_pct!)) return;
      const statements = (byTable.get(i) ?? [])
        .filter((s) => s.calls >= t.min_calls! && s.query !== null)
        .filter((s) => findTableReference(s.query!, tb.schemaname, tb.relname) !== null)
        .slice(0, 5);
      if (statements.length === 0) return;
      const withColumns = statements
        .map((s) => ({ s, columns: whereColumns(s.query!, tb.schemaname, tb.relname) }))
        .find((x) => x.columns.length > 0);
      const top = withColumns?.s ?? statements[0]!;
      const columns = withColumns?.columns ?? [];
      const name = qualified(tb.schemaname, tb.relname);
      const action =
        columns.length > 0
          ? psqlCommand(
              tb.datname,
              [`CREATE INDEX CONCURRENTLY ON ${name} (${columns.map(ident).join(', ')});`],
              portOf(input.ports, tb.serverId, tb.targetId),
            )
          : explainAction(top);
      out.push({
        serverId: tb.serverId,
        targetId: tb.targetId,
        object: objectIn(tb.datname, tb.schemaname, tb.relname),
        severity: 'info',
        title: `${cut(name, 200)} in ${cut(tb.datname, 100)}: ${tb.seqScans} sequential scans in the last hour${columns.length > 0 ? `, filtered on ${cut(columns.join(', '), 120)}` : ''}`,
        explanation:
          `Table ${name} in database ${tb.datname} (${Math.round(tb.nLiveTup)} rows, ${humanBytes(tb.tableBytes)}) was read by ${tb.seqScans} sequential scans over ${Math.round(tb.seconds / 60)} min, ` +
          `each reading about ${Math.round(readPct)} % of it (${Math.round(tb.seqTupRead)} rows in all). ` +
          `Statement ${top.queryid} (${top.calls} calls, ${round2(top.meanMs)} ms on average) reads it` +
          (columns.length > 0
            ? ` filtering on ${columns.join(', ')}: an index on ${columns.length > 1 ? 'those columns' : 'that column'} lets it read only the matching rows.`
            : '; its WHERE clause could not be read here — EXPLAIN it to see which filter the scan applies.') +
          ' Check first that the filter is selective (pg_stats.n_distinct): an index does not help a filter that matches most rows.',
        evidence: {
          datname: tb.datname,
          schemaname: tb.schemaname,
          relname: tb.relname,
          n_live_tup: tb.nLiveTup,
          table_bytes: tb.tableBytes,
          window_s: round2(tb.seconds),
          seq_scans: tb.seqScans,
          seq_tup_read: tb.seqTupRead,
          idx_scans: tb.idxScans,
          read_per_scan_pct: round2(readPct),
          where_columns: columns,
          statements: statements.map((s) => ({
            queryid: s.queryid,
            calls: s.calls,
            mean_exec_time_ms: round2(s.meanMs),
            total_exec_time_ms: round2(s.execTimeMs),
            query: cut(s.query!, 300),
          })),
        },
        action,
        value: tb.seqScans,
      });
    });
    return { observations: out, scopes: scopesOf(input.targets) };
  },
};

export const postgresStatementChecks = [pgSlowStatement, pgStatementRegression, pgMissingIndex];
