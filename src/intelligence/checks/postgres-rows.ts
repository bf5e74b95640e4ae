/**
 * Reading a PostgreSQL target's rows for the checks of live state: the newest collection's snapshot of a
 * family, per-interval counter deltas that refuse resets, settings with their built-in defaults, and the
 * pg_stat_activity filter that finds one group of sessions again.
 *
 * Snapshot families (lock waits, activity groups, slots, standbys, xmin holders) send no row when there is
 * nothing to report, and a batch may hold several collections: only the rows of the newest collection
 * (the newest pg_instance row's ts — every family of one collection shares it) describe "now". A check of
 * those families lists pg_instance among its inputs, so it is evaluated — and its findings can clear —
 * when the situation is over and the family sends nothing.
 */
import { type Severity, severityRank } from '../model.js';
import type { Draft, Row, RowPair, ScopeRows } from './types.js';
import { cut, field, literal, num, str } from './util.js';

/** What every check of these files is: an ingest check of one PostgreSQL target. */
export const targetIngest = { group: 'postgres', mode: 'ingest', scope: 'target' } as const;

/** Rows of `family` in the newest collection of this batch; null when the instance did not answer. */
export function snapshot(input: ScopeRows, family: string): readonly Row[] | null {
  const instance = input.latest('pg_instance');
  const row = instance[instance.length - 1];
  if (row?.up !== true) return null;
  const ts = num(row.ts);
  if (ts === null) return null;
  return input.rows(family).filter((r) => r.ts === ts);
}

/**
 * cur − prev of a counter column over a pair, or null when either is missing or the counter went back
 * (statistics reset, or a counter that restarted with the server).
 */
export function delta(pair: RowPair, column: string): number | null {
  if (str(field(pair.cur, 'stats_reset')) !== str(field(pair.prev, 'stats_reset'))) return null;
  const a = num(field(pair.cur, column));
  const b = num(field(pair.prev, column));
  if (a === null || b === null || a < b) return null;
  return a - b;
}

/**
 * A numeric setting in its pg_settings unit. The agent sends settings that differ from their defaults
 * (and a few key ones always), so an absent one is at its built-in default.
 */
export function numericSetting(input: ScopeRows, name: string, builtIn: number): number {
  const v = num(input.setting(name));
  return v !== null && v >= 0 ? v : builtIn;
}

/** A size for a configuration file or ALTER SYSTEM: '64kB', '12MB', '4GB' (whole units only). */
export function pgSize(bytes: number): string {
  const kb = Math.max(64, Math.ceil(bytes / 1024));
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  if (kb >= 10 * 1024) return `${Math.ceil(kb / 1024)}MB`;
  return `${kb}kB`;
}

/** The labels of a pg_activity group, cut for evidence and keys. */
export function activityGroup(r: Row): { datname: string; usename: string; application_name: string } {
  return {
    datname: cut(r.datname, 200),
    usename: cut(r.usename, 200),
    application_name: cut(r.application_name, 200),
  };
}

/** `db/user/app`: a group of sessions that persists across its sessions' pids. */
export function groupObject(r: Row): string {
  const g = activityGroup(r);
  return `${g.datname}/${g.usename}/${g.application_name}`;
}

/**
 * The WHERE conditions that find a pg_activity group's sessions in pg_stat_activity again (the agent
 * cuts application_name to 64 characters, so a cut one is compared cut).
 */
export function activityFilter(r: Row): string {
  const g = activityGroup(r);
  const app = str(r.application_name);
  return [
    `datname = ${literal(g.datname)}`,
    ...(g.usename ? [`usename = ${literal(g.usename)}`] : []),
    app.length >= 64
      ? `left(application_name, 64) = ${literal(app.slice(0, 64))}`
      : `application_name = ${literal(app)}`,
  ].join(' AND ');
}

/** The highest of several severities (nulls ignored), or null. */
export function worst(...s: Array<Severity | null>): Severity | null {
  let w: Severity | null = null;
  for (const x of s) if (x && (!w || severityRank[x] > severityRank[w])) w = x;
  return w;
}

/** The `n` most important drafts: the most severe first, then the largest value. */
export function worstFirst(drafts: Draft[], n = 10): Draft[] {
  return drafts
    .sort((a, b) => severityRank[b.severity] - severityRank[a.severity] || (b.value ?? 0) - (a.value ?? 0))
    .slice(0, n);
}
