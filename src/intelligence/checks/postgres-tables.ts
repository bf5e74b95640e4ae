/**
 * PostgreSQL table checks on ingest (pg_tables, per database): dead tuples piling up, and tables whose
 * vacuum or analyze is long overdue while they keep changing. Only tables big enough to matter are looked
 * at, so a fresh database's small tables never produce anything.
 *
 * Evaluated on each batch holding pg_tables rows: a table that leaves the batch (dropped, or out of the
 * collector's largest-N cap) clears. A database that sends no pg_tables row at all (its last table
 * dropped, or its visit failed) is not evaluated: its open findings resolve by time (the lifecycle's
 * staleness), not by clear evaluations.
 */
import { objectIn, psqlCommand } from './psql.js';
import type { Draft, IngestCheck, Row } from './types.js';
import { cut, grade, humanBytes, humanSeconds, ms, num, qualified, round2, str } from './util.js';

const day = 86_400_000;

/** The newest of the given timestamps (ms), or null when none is set. */
function newest(...values: unknown[]): number | null {
  let out: number | null = null;
  for (const v of values) {
    const t = ms(v);
    if (t !== null && (out === null || t > out)) out = t;
  }
  return out;
}

function iso(v: unknown): string | null {
  const t = ms(v);
  return t === null ? null : new Date(t).toISOString();
}

/** The evidence every table finding carries: where it is and what vacuum has done to it. */
function tableEvidence(r: Row): Record<string, string | number | null> {
  return {
    datname: str(r.datname),
    schemaname: str(r.schemaname),
    relname: str(r.relname),
    n_live_tup: num(r.n_live_tup),
    n_dead_tup: num(r.n_dead_tup),
    dead_pct: num(r.dead_pct),
    n_mod_since_analyze: num(r.n_mod_since_analyze),
    n_ins_since_vacuum: num(r.n_ins_since_vacuum),
    last_vacuum: iso(r.last_vacuum),
    last_autovacuum: iso(r.last_autovacuum),
    last_analyze: iso(r.last_analyze),
    last_autoanalyze: iso(r.last_autoanalyze),
    vacuum_count: num(r.vacuum_count),
    autovacuum_count: num(r.autovacuum_count),
    table_bytes: num(r.table_bytes),
    total_bytes: num(r.total_bytes),
  };
}

export const pgDeadTuples: IngestCheck = {
  id: 'pg.dead_tuples',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'alert',
  title: 'Dead tuples piling up in a table',
  doc: {
    evidence:
      'database, table, live and dead rows, dead share, last (auto)vacuum and analyze, autovacuum count, table size',
    action:
      'psql -d <db> -c "VACUUM (VERBOSE, ANALYZE) schema.table;", plus a per-table autovacuum_vacuum_scale_factor when autovacuum does not keep up',
  },
  inputs: ['pg_tables'],
  thresholds: {
    warning: { default: 20, unit: '%', help: 'dead rows as a share of all rows', min: 1, max: 100 },
    critical: { default: 50, unit: '%', help: 'dead rows as a share of all rows', min: 1, max: 100 },
    min_live_rows: {
      default: 1000,
      unit: 'count',
      help: 'tables with fewer live rows are not looked at',
      min: 0,
    },
    min_dead_rows: {
      default: 500,
      unit: 'count',
      help: 'tables with fewer dead rows are not looked at',
      min: 0,
    },
    autovacuum_behind_hours: {
      default: 24,
      unit: 'h',
      help: 'no autovacuum for this long while over the warning share: autovacuum does not keep up, tune the table',
      min: 1,
      max: 8760,
    },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const now = Math.max(0, ...input.latest('pg_tables').map((r) => num(r.ts) ?? 0));
    for (const r of input.latest('pg_tables')) {
      const live = num(r.n_live_tup);
      const dead = num(r.n_dead_tup);
      if (live === null || dead === null || live < t.min_live_rows! || dead < t.min_dead_rows!) continue;
      const pct = num(r.dead_pct) ?? (live + dead > 0 ? (100 * dead) / (live + dead) : null);
      const severity = grade(pct, t);
      if (!severity || pct === null) continue;
      const datname = str(r.datname);
      const name = qualified(str(r.schemaname), str(r.relname));
      const lastAuto = ms(r.last_autovacuum);
      const behind = lastAuto === null || now - lastAuto > t.autovacuum_behind_hours! * 3_600_000;
      const vacuum = `VACUUM (VERBOSE, ANALYZE) ${name};`;
      const tune = `ALTER TABLE ${name} SET (autovacuum_vacuum_scale_factor = 0.05);`;
      const tableBytes = num(r.table_bytes);
      const bloat = tableBytes === null ? null : Math.round((tableBytes * dead) / (live + dead));
      const lastAny = newest(r.last_vacuum, r.last_autovacuum);
      out.push({
        object: objectIn(datname, str(r.schemaname), str(r.relname)),
        severity,
        title: `${cut(name, 200)} in ${cut(datname, 100)}: ${Math.round(pct)} % dead rows`,
        explanation:
          `${name} in database ${datname} holds ${dead} dead rows next to ${live} live ones (${round2(pct)} %). ` +
          'Dead rows take space and every scan still reads them, so the table gets slower and bigger until VACUUM marks the space reusable' +
          (bloat !== null ? ` (about ${humanBytes(bloat)} of the table is dead rows)` : '') +
          '. ' +
          (lastAny === null
            ? 'It has never been vacuumed. '
            : `It was last vacuumed ${humanSeconds(Math.max(0, now - lastAny) / 1000)} ago. `) +
          (behind
            ? 'Autovacuum has not vacuumed it recently, so it does not keep up with this table (or is switched off for it): vacuum it now, and make autovacuum start earlier on it.'
            : 'Autovacuum ran recently; vacuum it now and watch whether the share comes back.'),
        evidence: { ...tableEvidence(r), autovacuum_behind: behind, dead_bytes_estimate: bloat },
        action: psqlCommand(datname, behind ? [vacuum, tune] : [vacuum], input),
        value: round2(pct),
      });
    }
    return out;
  },
};

export const pgVacuumOverdue: IngestCheck = {
  id: 'pg.vacuum_overdue',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'recommendation',
  title: 'Table not vacuumed or analyzed for days while it keeps changing',
  doc: {
    evidence:
      'database, table, days since the last (auto)vacuum and (auto)analyze, rows changed since, live rows',
    action:
      'psql -d <db> -c "VACUUM (VERBOSE, ANALYZE) schema.table;" (or ANALYZE VERBOSE when only the statistics are stale)',
  },
  inputs: ['pg_tables'],
  thresholds: {
    days: {
      default: 7,
      unit: 'days',
      help: 'no vacuum (or analyze) for this long, or never',
      min: 1,
      max: 3650,
    },
    min_changed_rows: {
      default: 10_000,
      unit: 'count',
      help: 'rows changed since the last vacuum/analyze (dead rows, inserts since vacuum, modifications since analyze) below which a table is quiet enough',
      min: 0,
    },
    min_changed_pct: {
      default: 10,
      unit: '%',
      help: 'changed rows as a share of live rows below which a table is quiet enough',
      min: 0,
      max: 1000,
    },
    warning_changed_pct: {
      default: 50,
      unit: '%',
      help: 'changed rows as a share of live rows from which it is a warning, not info (never for a table never vacuumed: its age is unknown)',
      min: 0,
      max: 1000,
    },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const rows = input.latest('pg_tables');
    const now = Math.max(0, ...rows.map((r) => num(r.ts) ?? 0));
    for (const r of rows) {
      const live = Math.max(0, num(r.n_live_tup) ?? 0);
      const dead = Math.max(0, num(r.n_dead_tup) ?? 0);
      const insSinceVacuum = Math.max(0, num(r.n_ins_since_vacuum) ?? 0);
      const modSinceAnalyze = Math.max(0, num(r.n_mod_since_analyze) ?? 0);
      const lastVacuum = newest(r.last_vacuum, r.last_autovacuum);
      const lastAnalyze = newest(r.last_analyze, r.last_autoanalyze);
      const old = (last: number | null) => last === null || now - last > t.days! * day;
      const enough = (changed: number) =>
        changed >= t.min_changed_rows! && 100 * changed >= t.min_changed_pct! * Math.max(live, 1);
      const vacuumChanged = Math.max(dead, insSinceVacuum);
      const needsVacuum = old(lastVacuum) && enough(vacuumChanged);
      const needsAnalyze = old(lastAnalyze) && enough(modSinceAnalyze);
      if (!needsVacuum && !needsAnalyze) continue;
      const changed = needsVacuum ? vacuumChanged : modSinceAnalyze;
      const changedPct = (100 * changed) / Math.max(live, 1);
      // "Never" may just be a table loaded a minute ago that autovacuum has not reached yet (its age is
      // not known here): said, but never above info.
      const never = (needsVacuum ? lastVacuum : lastAnalyze) === null;
      const severity = !never && changedPct >= t.warning_changed_pct! ? 'warning' : 'info';
      const datname = str(r.datname);
      const name = qualified(str(r.schemaname), str(r.relname));
      const since = (last: number | null) =>
        last === null ? 'never' : `${humanSeconds(Math.max(0, now - last) / 1000)} ago`;
      const what = needsVacuum ? 'vacuumed' : 'analyzed';
      out.push({
        object: objectIn(datname, str(r.schemaname), str(r.relname)),
        severity,
        title: `${cut(name, 200)} in ${cut(datname, 100)} not ${what} ${never ? 'ever' : `for ${Math.floor((now - (needsVacuum ? lastVacuum! : lastAnalyze!)) / day)} days`}`,
        explanation:
          `${name} in database ${datname} was last vacuumed ${since(lastVacuum)} and last analyzed ${since(lastAnalyze)}, ` +
          `while ${changed} of its rows changed since (${round2(changedPct)} % of ${live} live rows). ` +
          (needsVacuum
            ? 'Without vacuum, dead rows are not reused and the visibility map goes stale (index-only scans read the table); '
            : '') +
          'without analyze the planner works from old statistics and may choose bad plans. Autovacuum skips it: check that it is enabled for the table and that its thresholds suit the table size.',
        evidence: {
          ...tableEvidence(r),
          needs_vacuum: needsVacuum,
          needs_analyze: needsAnalyze,
          changed_rows: changed,
          changed_pct: round2(changedPct),
        },
        action: psqlCommand(
          datname,
          [needsVacuum ? `VACUUM (VERBOSE, ANALYZE) ${name};` : `ANALYZE VERBOSE ${name};`],
          input,
        ),
        value: round2(changedPct),
      });
    }
    return out;
  },
};

export const postgresTableChecks = [pgDeadTuples, pgVacuumOverdue];
