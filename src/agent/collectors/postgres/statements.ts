/**
 * Per-interval statement statistics from pg_stat_statements, as pure functions over two snapshots.
 *
 * pg_stat_statements keeps cumulative counters per entry (userid, dbid, queryid, toplevel). Entries are
 * evicted when the table is full (counted in pg_stat_statements_info.dealloc, 14+), reset all at once
 * (stats_reset changes) or one by one (pg_stat_statements_reset(userid, dbid, queryid)), and re-created
 * with fresh counters. What this module guarantees about the deltas it returns:
 *
 * - Never negative: an entry whose counters went down was re-created since the last snapshot, so all it
 *   holds happened within the interval and its delta is its current value.
 * - Never inflated: a delta never includes work done before the previous snapshot. An entry new since the
 *   previous snapshot counts from its creation, which was after it (every entry is read every time). On
 *   17+ `stats_since` tells exactly when an entry was created: a re-created entry is detected even when
 *   its counters have grown past the old ones, and an entry that existed before but was not seen (e.g.
 *   the previous read lacked permission) is taken as a baseline, not a delta. After a full reset
 *   (stats_reset moved) every delta is the entry's current value.
 * - Before 17, an entry evicted and re-created within one interval whose counters outgrew the old ones
 *   gives an under-estimate (current − old): the only imprecision, and on the safe side.
 * - Deltas are computed per entry (toplevel true and false apart) and only then summed per
 *   (queryid, dbid, userid), so one part being re-created cannot pull the other's history into the delta.
 * - The first snapshot only sets the baseline: no deltas.
 *
 * `StatementsReader` at the end is the collector's side: it reads the snapshots over the main session,
 * sends the top statements with their database and role names, and each statement's text once.
 * Without pg_stat_statements (or with an extension too old) it says once (warn) which SQL would enable it,
 * and reports the family degraded with that reason at every collection.
 */
import { statementDeltaColumns } from '../../../protocol/families/postgres.js';
import type { Row } from '../types.js';
import { type Collection, familyStatus, toFamilyRow } from './families.js';
import {
  statementCountersQueries,
  statementInfoQueries,
  statementNamesQuery,
  statementsAvailabilityQuery,
  statementTextsQuery,
} from './queries/statements.js';
import { pickQuery } from './queries/types.js';
import { isConnectionFailure, type Session } from './session.js';

/** Cumulative counters of one entry, in the units of pg_stat_statements (times in ms). */
export interface StatementCounters {
  calls: number;
  plans: number;
  exec_time_ms: number;
  plan_time_ms: number;
  rows: number;
  shared_blks_hit: number;
  shared_blks_read: number;
  shared_blks_dirtied: number;
  shared_blks_written: number;
  local_blks_hit: number;
  local_blks_read: number;
  local_blks_written: number;
  temp_blks_read: number;
  temp_blks_written: number;
  blk_read_time_ms: number;
  blk_write_time_ms: number;
  wal_records: number;
  wal_fpi: number;
  wal_bytes: number;
}

export const counterNames: readonly (keyof StatementCounters)[] = statementDeltaColumns;

/** One entry of pg_stat_statements. queryid is a string: it is a full 64-bit integer. */
export interface StatementEntry {
  queryid: string;
  dbid: number;
  userid: number;
  toplevel: boolean;
  /** When the entry was created (17+), ms since the epoch on the server's clock; null before 17. */
  statsSince: number | null;
  counters: StatementCounters;
}

export interface StatementsSnapshot {
  /** The server's clock when the snapshot was read, ms since the epoch. */
  serverNow: number;
  /** pg_stat_statements_info.stats_reset (14+), ms; null when unknown. */
  statsReset: number | null;
  /** pg_stat_statements_info.dealloc (14+); null when unknown. */
  dealloc: number | null;
  /** Entries by entryKey(). */
  entries: Map<string, StatementEntry>;
}

/** A statement's deltas over the interval, summed over its toplevel and nested parts. */
export interface StatementDelta {
  queryid: string;
  dbid: number;
  userid: number;
  intervalS: number;
  counters: StatementCounters;
}

export interface DeltaResult {
  deltas: StatementDelta[];
  /** A full reset happened since the previous snapshot. */
  reset: boolean;
  /** Entries evicted since the previous snapshot (14+), else null. */
  evicted: number | null;
  /** Entries whose counters went down or that were re-created: their delta is their current value. */
  recreated: number;
  /** Entries present before but unseen until now (17+ only): taken as a baseline. */
  skipped: number;
}

export function statementKey(queryid: string, dbid: number, userid: number): string {
  return `${dbid}:${userid}:${queryid}`;
}

export function entryKey(e: Pick<StatementEntry, 'queryid' | 'dbid' | 'userid' | 'toplevel'>): string {
  return `${statementKey(e.queryid, e.dbid, e.userid)}:${e.toplevel ? 't' : 'f'}`;
}

export function zeroCounters(): StatementCounters {
  const c = {} as StatementCounters;
  for (const n of counterNames) c[n] = 0;
  return c;
}

function anyDecreased(cur: StatementCounters, prev: StatementCounters): boolean {
  for (const n of counterNames) if (cur[n] < prev[n]) return true;
  return false;
}

function difference(cur: StatementCounters, prev: StatementCounters): StatementCounters {
  const d = {} as StatementCounters;
  // max(0, …): float sums are not guaranteed bit-for-bit monotonic; a -1e-12 must not become a value
  for (const n of counterNames) d[n] = Math.max(0, cur[n] - prev[n]);
  return d;
}

function addInto(into: StatementCounters, add: StatementCounters): void {
  for (const n of counterNames) into[n] += add[n];
}

/** Deltas from `prev` to `cur` (see the module header for what they guarantee). */
export function computeStatementDeltas(
  prev: StatementsSnapshot | undefined,
  cur: StatementsSnapshot,
): DeltaResult {
  if (!prev) return { deltas: [], reset: false, evicted: null, recreated: 0, skipped: 0 };
  const reset = prev.statsReset !== null && cur.statsReset !== null && cur.statsReset !== prev.statsReset;
  const evicted =
    prev.dealloc !== null && cur.dealloc !== null ? Math.max(0, cur.dealloc - prev.dealloc) : null;
  const intervalS = Math.max(0, (cur.serverNow - prev.serverNow) / 1000);
  const byStatement = new Map<string, StatementDelta>();
  let recreated = 0;
  let skipped = 0;
  for (const [key, entry] of cur.entries) {
    const before = reset ? undefined : prev.entries.get(key);
    let delta: StatementCounters;
    if (before) {
      const renewed =
        (entry.statsSince !== null && before.statsSince !== null && entry.statsSince !== before.statsSince) ||
        anyDecreased(entry.counters, before.counters);
      if (renewed) recreated++;
      delta = renewed ? { ...entry.counters } : difference(entry.counters, before.counters);
    } else {
      // New since the previous snapshot — unless its creation time says it was there all along.
      if (!reset && entry.statsSince !== null && entry.statsSince < prev.serverNow) {
        skipped++;
        continue;
      }
      delta = { ...entry.counters };
    }
    if (delta.calls === 0 && delta.plans === 0) continue;
    const sk = statementKey(entry.queryid, entry.dbid, entry.userid);
    const sum = byStatement.get(sk);
    if (sum) addInto(sum.counters, delta);
    else
      byStatement.set(sk, {
        queryid: entry.queryid,
        dbid: entry.dbid,
        userid: entry.userid,
        intervalS,
        counters: delta,
      });
  }
  return { deltas: [...byStatement.values()], reset, evicted, recreated, skipped };
}

/** Blocks moved to or from storage: what "top by I/O" ranks on. */
export function ioBlocks(c: StatementCounters): number {
  return (
    c.shared_blks_read +
    c.shared_blks_written +
    c.local_blks_read +
    c.local_blks_written +
    c.temp_blks_read +
    c.temp_blks_written
  );
}

export type Ranking = 'time' | 'calls' | 'io';

export interface RankedStatement {
  delta: StatementDelta;
  /** The rankings it made, in the order time, calls, io. */
  topBy: Ranking[];
}

/**
 * The union of the top `n` statements by total time (execution + planning), by calls and by I/O blocks.
 * Statements with nothing in a ranking (no I/O) do not enter it. At most 3n rows, whatever the number of
 * statements: that is what keeps the series count bounded.
 */
export function selectTopStatements(deltas: readonly StatementDelta[], n: number): RankedStatement[] {
  if (n <= 0) return [];
  const rankings: [Ranking, (d: StatementDelta) => number][] = [
    ['time', (d) => d.counters.exec_time_ms + d.counters.plan_time_ms],
    ['calls', (d) => d.counters.calls],
    ['io', (d) => ioBlocks(d.counters)],
  ];
  const chosen = new Map<StatementDelta, Ranking[]>();
  for (const [name, score] of rankings) {
    const top = deltas
      .filter((d) => score(d) > 0)
      .sort((a, b) => score(b) - score(a) || (a.queryid < b.queryid ? -1 : 1))
      .slice(0, n);
    for (const d of top) {
      const list = chosen.get(d);
      if (list) list.push(name);
      else chosen.set(d, [name]);
    }
  }
  return [...chosen].map(([delta, topBy]) => ({ delta, topBy }));
}

/**
 * Remembers which statements' texts were sent, so each is sent once. Bounded: past `max` entries it
 * forgets them all, and texts are sent again (the store keeps one per statement, so a resend is harmless).
 */
export class SentTexts {
  private readonly sent = new Set<string>();
  constructor(private readonly max = 100_000) {}

  has(key: string): boolean {
    return this.sent.has(key);
  }

  add(key: string): void {
    if (this.sent.size >= this.max) this.sent.clear();
    this.sent.add(key);
  }

  get size(): number {
    return this.sent.size;
  }
}

/** Text keyed by the extension version "major.minor" → 100 * major + minor, the key of the query maps. */
export function extensionVersionKey(extversion: string): number | undefined {
  const m = /^(\d+)\.(\d+)/.exec(extversion);
  if (!m) return undefined;
  return Number(m[1]) * 100 + Number(m[2]);
}

export interface StatementsReaderOptions {
  /** Statements per ranking (time, calls, I/O). */
  topN: number;
  /** Statement texts are cut to this many characters. */
  textMaxLength: number;
  /** Also send pg_statements_info. */
  info: boolean;
  /** Also send pg_statement_texts. */
  texts: boolean;
  /** A query error as the reason a family reports. */
  describe: (err: unknown) => string;
  /**
   * Whether a database's statements are ranked and sent (the collector's include and exclude lists);
   * absent: every database's.
   */
  databaseSelected?: (datname: string) => boolean;
}

/** Database and role names by oid (oids are the keys; names are for people). */
interface Names {
  db: Map<number, string>;
  role: Map<number, string>;
}

/** Reads pg_stat_statements for the collector, keeping the previous snapshot and the texts sent. */
export class StatementsReader {
  #previous: StatementsSnapshot | undefined;
  readonly #sentTexts = new SentTexts();
  #warned = false;

  constructor(private readonly options: StatementsReaderOptions) {}

  /** Adds pg_statements (and info, texts) to the collection; throws only when the connection fails. */
  async collect(session: Session, c: Collection): Promise<void> {
    const { statuses, out, log } = c;
    const { describe } = this.options;
    const started = performance.now();
    let extVersion: number | undefined;
    try {
      const { rows } = await session.query<{ extversion: string | null; preload: string }>({
        name: 'pgvigil_statements_availability',
        text: statementsAvailabilityQuery,
      });
      const avail = rows[0];
      const preloaded = /(^|[,\s])pg_stat_statements($|[,\s])/.test(avail?.preload ?? '');
      if (!avail?.extversion || !preloaded) {
        const steps: string[] = [];
        if (!preloaded) {
          steps.push(
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; -- then restart PostgreSQL (append to any libraries already listed)",
          );
        }
        if (!avail?.extversion)
          steps.push(`CREATE EXTENSION pg_stat_statements; -- in database "${session.database}"`);
        const reason = `pg_stat_statements is not available; to enable it run as a superuser: ${steps.join(' ')}`;
        if (!this.#warned) log.warn({ sql: steps }, reason);
        this.#warned = true;
        statuses.push(familyStatus('pg_statements', '', reason, started, 0));
        return;
      }
      extVersion = extensionVersionKey(avail.extversion);
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      statuses.push(familyStatus('pg_statements', '', describe(err), started, 0));
      return;
    }
    const countersSql =
      extVersion === undefined ? undefined : pickQuery(statementCountersQueries, extVersion);
    const infoSql = extVersion === undefined ? undefined : pickQuery(statementInfoQueries, extVersion);
    if (!countersSql || !infoSql) {
      const reason = `pg_stat_statements extension version is too old for pgvigil; run: ALTER EXTENSION pg_stat_statements UPDATE; in database "${session.database}"`;
      if (!this.#warned) log.warn(reason);
      this.#warned = true;
      statuses.push(familyStatus('pg_statements', '', reason, started, 0));
      return;
    }
    try {
      const info = await session.query<{
        dealloc: string | null;
        stats_reset: Date | null;
        server_now: Date;
        max: number;
      }>({ name: `pgvigil_statements_info_${extVersion}`, text: infoSql });
      const counters = await session.query<Record<string, unknown>>({
        name: `pgvigil_statements_${extVersion}`,
        text: countersSql,
      });
      const i = info.rows[0];
      const snapshot: StatementsSnapshot = {
        serverNow: i ? i.server_now.getTime() : Date.now(),
        statsReset: i?.stats_reset ? i.stats_reset.getTime() : null,
        dealloc: i?.dealloc != null ? Number(i.dealloc) : null,
        entries: new Map(),
      };
      for (const r of counters.rows) {
        const entry = toStatementEntry(r);
        snapshot.entries.set(entryKey(entry), entry);
      }
      const result = computeStatementDeltas(this.#previous, snapshot);
      this.#previous = snapshot;
      if (result.reset || result.recreated > 0) {
        log.debug(
          { reset: result.reset, recreated: result.recreated, evicted: result.evicted },
          'pg_stat_statements entries were reset or evicted; their deltas count from re-creation',
        );
      }
      let deltas = result.deltas;
      let names: Names | undefined;
      const selected = this.options.databaseSelected;
      if (selected && deltas.length > 0) {
        // The database lists choose statements too: an excluded database's statements neither take
        // places in the rankings nor get sent. The names of all of them are read in the one round trip
        // that reads those of the chosen ones otherwise.
        const all = await namesOf(session, deltas);
        deltas = deltas.filter((d) => {
          const name = all.db.get(d.dbid);
          return name !== undefined && selected(name);
        });
        names = all;
      }
      const top = selectTopStatements(deltas, this.options.topN);
      names ??= await namesOf(
        session,
        top.map((t) => t.delta),
      );
      out.set(
        'pg_statements',
        top.map((t) => statementRow(t, names)),
      );
      if (this.options.info) {
        out.set('pg_statements_info', [
          toFamilyRow('pg_statements_info', {
            entries: snapshot.entries.size,
            max: i?.max ?? null,
            dealloc: snapshot.dealloc,
            stats_reset: i?.stats_reset ?? null,
          }),
        ]);
      }
      statuses.push(familyStatus('pg_statements', '', null, started, top.length));
      if (this.options.texts) {
        const textStarted = performance.now();
        try {
          const texts = await this.#newTexts(session, top);
          out.set('pg_statement_texts', texts);
          statuses.push(familyStatus('pg_statement_texts', '', null, textStarted, texts.length));
        } catch (err) {
          if (isConnectionFailure(err)) throw err;
          statuses.push(familyStatus('pg_statement_texts', '', describe(err), textStarted, 0));
        }
      }
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      statuses.push(familyStatus('pg_statements', '', describe(err), started, 0));
    }
  }

  /** Texts of the chosen statements not sent yet. */
  async #newTexts(session: Session, top: RankedStatement[]): Promise<Row[]> {
    const sentTexts = this.#sentTexts;
    const missing = top.filter(
      (t) => !sentTexts.has(statementKey(t.delta.queryid, t.delta.dbid, t.delta.userid)),
    );
    if (missing.length === 0) return [];
    const wanted = new Set(missing.map((t) => statementKey(t.delta.queryid, t.delta.dbid, t.delta.userid)));
    const { rows } = await session.query<{
      userid: string;
      dbid: string;
      queryid: string;
      query: string | null;
      truncated: boolean | null;
    }>(statementTextsQuery, [[...new Set(missing.map((t) => t.delta.queryid))], this.options.textMaxLength]);
    const out: Row[] = [];
    for (const r of rows) {
      const key = statementKey(String(r.queryid), Number(r.dbid), Number(r.userid));
      // The text file can be garbage-collected under us (query null): try again next time.
      if (!wanted.has(key) || r.query === null || sentTexts.has(key)) continue;
      sentTexts.add(key);
      out.push(
        toFamilyRow('pg_statement_texts', {
          queryid: r.queryid,
          dbid: r.dbid,
          userid: r.userid,
          query: r.query,
          truncated: r.truncated ?? false,
        }),
      );
    }
    return out;
  }
}

/** Database and role names of the chosen statements. */
/** Names of the databases and roles of these statements, by oid (one query; none for no statements). */
async function namesOf(session: Session, deltas: readonly StatementDelta[]): Promise<Names> {
  const db = new Map<number, string>();
  const role = new Map<number, string>();
  if (deltas.length === 0) return { db, role };
  const { rows } = await session.query<{ kind: string; oid: number; name: string }>(statementNamesQuery, [
    [...new Set(deltas.map((d) => d.dbid))],
    [...new Set(deltas.map((d) => d.userid))],
  ]);
  for (const r of rows) (r.kind === 'd' ? db : role).set(Number(r.oid), r.name);
  return { db, role };
}

function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function toStatementEntry(r: Record<string, unknown>): StatementEntry {
  const counters = {} as StatementCounters;
  for (const n of counterNames) counters[n] = num(r[n]);
  const since = r.stats_since;
  return {
    queryid: String(r.queryid),
    dbid: Number(r.dbid),
    userid: Number(r.userid),
    toplevel: r.toplevel !== false,
    statsSince: since instanceof Date ? since.getTime() : null,
    counters,
  };
}

function statementRow(t: RankedStatement, names: Names): Row {
  const c = t.delta.counters;
  return toFamilyRow('pg_statements', {
    ...c,
    queryid: t.delta.queryid,
    dbid: t.delta.dbid,
    userid: t.delta.userid,
    datname: names.db.get(t.delta.dbid) ?? '',
    usename: names.role.get(t.delta.userid) ?? '',
    top_by: t.topBy.join(','),
    interval_s: t.delta.intervalS,
    mean_exec_time_ms: c.calls > 0 ? c.exec_time_ms / c.calls : null,
  });
}
