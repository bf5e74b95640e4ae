/**
 * Custom SQL metrics (src/protocol/custom-metrics.ts) on one PostgreSQL target: each definition's query,
 * picked by server version, run on the definition's own interval, its result turned into `pg_custom` rows.
 *
 * Why apart from the collection: a collection must end within the scheduler's timeout (the agent's
 * interval, 10 s by default), and a custom query may take up to its own timeout (up to 60 s). So the runner
 * keeps its own connection (opened only when custom metrics are defined: one more session of ours on the
 * target, same role, `application_name = 'pgvigil'`, read-only by default), runs the due queries one after
 * another on a timer, and keeps what they gave until the next collection hands it on (`drain`). Kept runs
 * are bounded: the newest `maxKeptRuns` of each metric.
 *
 * What it guarantees to the monitored server: every query runs in its own `BEGIN READ ONLY` transaction
 * with `SET LOCAL statement_timeout` (the definition's timeout) and `SET LOCAL lock_timeout`, through the
 * extended protocol (one statement: a `;`-joined second statement is refused by the server), and is rolled
 * back whatever happens. What a query may read is what the monitoring role may read: read-only stops
 * writes, not reads.
 *
 * What it guarantees to the agent: a definition that fails (syntax, permission, timeout, a value that is
 * not a number) is reported degraded with its reason — a `pg_collector` row of family `pg_custom:<name>` —
 * and the others keep running; nothing here throws into the collection. A query the server refuses for
 * good (a missing grant, table or function, a syntax error) is not asked again at each of its turns but
 * after a pause (refusals.ts); its turns in the pause still report it degraded, with when it is asked again.
 */
import type { Logger } from '../../../log.js';
import {
  type CustomMetricDef,
  canonicalLabels,
  customMetricBounds,
  pickCustomSql,
} from '../../../protocol/custom-metrics.js';
import type { Row } from '../types.js';
import type { FamilyStatus } from './families.js';
import { nextAttempt, type RefusalPause, Refusals } from './refusals.js';
import { isConnectionFailure, MainConnection, type PostgresTarget, type Session } from './session.js';

/** Canonical label texts longer than this (bytes) make the row dropped: it must fit a btree key. */
export const maxLabelsBytes = 1024;
/** Runs of one metric kept until a collection takes them. */
export const maxKeptRuns = 10;
/** A metric is due this much before its interval is over, so collection jitter does not skip a turn. */
const slackMs = 500;

/** The status family of a custom metric in pg_collector. */
export function customStatusFamily(name: string): string {
  return `pg_custom:${name}`;
}

/** One result value as a number: numbers, numeric text (int8, numeric), booleans as 1/0; null stays null. */
function numberOf(v: unknown): number | null | { bad: string } {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) return n;
    if (/^[+-]?(nan|infinity)$/i.test(v.trim())) return null;
  }
  return { bad: typeof v === 'string' ? `"${v.slice(0, 40)}"` : typeof v };
}

function labelText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export interface CustomResult {
  rows: Row[];
  /** Result rows beyond max_rows, and rows whose label text is too long: not stored. */
  dropped: number;
  /** Result rows whose label values repeat an earlier row's (not stored: one value per series and run). */
  duplicates: number;
  /** Label values cut to the length bound. */
  cut: number;
  /** Why nothing of this run is stored (a declared column is missing, a value is not a number). */
  error: string | null;
}

/**
 * A query's result rows → pg_custom rows: one per result row and value column with a value (null values
 * give no row: no invented zeros). Pure. `fields` are the result's column names.
 */
export function customRows(
  def: CustomMetricDef,
  fields: readonly string[],
  result: readonly Record<string, unknown>[],
): CustomResult {
  const missing = def.columns.filter((c) => !fields.includes(c.name)).map((c) => c.name);
  if (missing.length > 0) {
    return {
      rows: [],
      dropped: 0,
      duplicates: 0,
      cut: 0,
      error: `column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not in the query's result (it returned: ${fields.join(', ').slice(0, 300) || 'no columns'})`,
    };
  }
  const labelCols = def.columns.filter((c) => c.type === 'label');
  const valueCols = def.columns.filter((c) => c.type !== 'label');
  const rows: Row[] = [];
  let dropped = Math.max(0, result.length - def.max_rows);
  let duplicates = 0;
  let cut = 0;
  // A series is (metric, column, labels) at one ts: a second result row with the same labels would be a
  // second row under the same key, which the store refuses with the whole batch. The first one is kept.
  const seen = new Set<string>();
  for (const r of result.slice(0, def.max_rows)) {
    const labels: Record<string, string> = {};
    for (const c of labelCols) {
      let v = labelText(r[c.name]);
      if (v.length > customMetricBounds.labelValueLength) {
        v = v.slice(0, customMetricBounds.labelValueLength);
        cut++;
      }
      labels[c.name] = v;
    }
    const text = canonicalLabels(labels);
    if (Buffer.byteLength(text) > maxLabelsBytes) {
      dropped++;
      continue;
    }
    if (seen.has(text)) {
      duplicates++;
      continue;
    }
    seen.add(text);
    for (const c of valueCols) {
      const n = numberOf(r[c.name]);
      if (n === null) continue;
      if (typeof n === 'object') {
        return {
          rows: [],
          dropped: 0,
          duplicates: 0,
          cut: 0,
          error: `column ${c.name}: expected a number, got ${n.bad}`,
        };
      }
      rows.push({
        metric: def.name,
        name: c.name,
        labels: text,
        gauge: c.type === 'gauge' ? n : null,
        counter: c.type === 'counter' ? n : null,
        warn_above: c.warn_above ?? null,
        crit_above: c.crit_above ?? null,
      });
    }
  }
  return { rows, dropped, duplicates, cut, error: null };
}

/** What one run of one metric gave. */
export interface CustomRun {
  metric: string;
  /** When the query ran (wall clock, ms): the rows' ts. */
  ts: number;
  rows: Row[];
  status: FamilyStatus;
}

export interface CustomRunnerOptions {
  lockTimeoutMs: number;
  maxBackoffMs: number;
  /** The pause before a refused query is asked again (refusals.ts); its default when absent. */
  refusalPause?: RefusalPause;
  now?: () => number;
  monotonic?: () => number;
}

export class CustomMetricsRunner {
  readonly #conn: MainConnection;
  readonly #nextDue = new Map<string, number>();
  readonly #kept = new Map<string, CustomRun[]>();
  readonly #failing = new Map<string, string>();
  readonly #refusals: Refusals;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  readonly #now: () => number;
  readonly #monotonic: () => number;

  constructor(
    private readonly target: PostgresTarget,
    private readonly defs: readonly CustomMetricDef[],
    private readonly opts: CustomRunnerOptions,
    private readonly log: Logger,
  ) {
    this.#conn = new MainConnection(target, opts.maxBackoffMs);
    this.#now = opts.now ?? Date.now;
    this.#monotonic = opts.monotonic ?? (() => performance.now());
    this.#refusals = new Refusals(opts.refusalPause, this.#now);
  }

  /** Starts the timer loop (idempotent): due metrics now, then each on its interval. */
  start(): void {
    if (this.#running || this.#closed || this.defs.length === 0) return;
    const loop = async (): Promise<void> => {
      if (this.#closed) return;
      try {
        await this.runDue();
      } catch (err) {
        // Nothing in a run should throw; if something does, the loop must go on (and say so).
        this.log.error({ err: this.target.scrubbedError(err) }, 'custom metrics run failed');
      }
      if (this.#closed) return;
      const next = Math.min(...this.defs.map((d) => this.#nextDue.get(d.name) ?? 0));
      const wait = Math.max(1000, next - this.#monotonic());
      this.#timer = setTimeout(() => {
        this.#running = loop();
      }, wait);
      this.#timer.unref?.();
    };
    this.#running = loop();
  }

  /** Runs every due metric once, one after another. */
  async runDue(): Promise<void> {
    const acquired = await this.#conn.acquire(this.log, this.#monotonic);
    if ('down' in acquired) return; // the collection itself reports the target down
    const { session } = acquired;
    let version: number;
    try {
      const res = await session.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
      version = Number(res.rows[0]?.v);
    } catch (err) {
      if (isConnectionFailure(err)) await this.#conn.lost(session, err, this.log, this.#monotonic);
      return;
    }
    for (const def of this.defs) {
      if (this.#closed) return;
      const due = this.#nextDue.get(def.name) ?? 0;
      if (this.#monotonic() < due) continue;
      this.#nextDue.set(def.name, this.#monotonic() + def.interval * 1000 - slackMs);
      const sql = pickCustomSql(def, version);
      if (sql === undefined) continue; // no SQL for this version: not applicable, not degraded
      const paused = this.#refusals.paused(def.name);
      if (paused !== undefined) {
        this.#keep(this.#pausedRun(def, paused));
        continue;
      }
      try {
        this.#keep(await this.#runOne(session, def, sql));
      } catch (err) {
        // The connection itself failed: the remaining metrics wait for the next turn.
        await this.#conn.lost(session, err, this.log, this.#monotonic);
        return;
      }
    }
  }

  async #runOne(session: Session, def: CustomMetricDef, sql: string): Promise<CustomRun> {
    const ts = this.#now();
    const started = performance.now();
    const timeoutMs = def.timeout * 1000;
    let error: string | null = null;
    let result: CustomResult = { rows: [], dropped: 0, duplicates: 0, cut: 0, error: null };
    let inTx = false;
    let refusal: unknown;
    try {
      await session.query('BEGIN READ ONLY');
      inTx = true;
      await session.query(
        `SET LOCAL statement_timeout = ${Math.trunc(timeoutMs)}; SET LOCAL lock_timeout = ${Math.trunc(this.opts.lockTimeoutMs)}`,
      );
      const res = await session.query({
        text: sql,
        // One statement only (the extended protocol refuses a second), and a client-side guard a little
        // beyond the server's own timeout for a network that stops answering.
        queryMode: 'extended',
        query_timeout: timeoutMs + 5_000,
      } as import('pg').QueryConfig);
      result = customRows(
        def,
        res.fields.map((f) => f.name),
        res.rows as Record<string, unknown>[],
      );
      error = result.error;
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      error = this.target.errorText(err);
      refusal = err;
    } finally {
      if (inTx) await session.query('ROLLBACK').catch(() => {});
    }
    const durationMs = performance.now() - started;
    const key = def.name;
    if (error !== null) {
      const pauseMs = this.#refusals.failed(key, refusal, error);
      if (this.#failing.get(key) !== error) {
        this.log.warn({ metric: def.name, reason: error }, `custom metric degraded; ${nextAttempt(pauseMs)}`);
      }
      this.#failing.set(key, error);
    } else {
      this.#refusals.succeeded(key);
      if (this.#failing.delete(key)) this.log.info({ metric: def.name }, 'custom metric collected again');
    }
    // Rows dropped by the bounds are said in the status (ok, with a note) and logged, never silently lost.
    const note =
      error === null && (result.dropped > 0 || result.duplicates > 0 || result.cut > 0)
        ? [
            result.dropped > 0
              ? `${result.dropped} result rows dropped (max_rows ${def.max_rows}, or labels over ${maxLabelsBytes} bytes)`
              : '',
            result.duplicates > 0
              ? `${result.duplicates} result rows dropped for repeating the label values of an earlier row`
              : '',
            result.cut > 0
              ? `${result.cut} label values cut to ${customMetricBounds.labelValueLength} characters`
              : '',
          ]
            .filter(Boolean)
            .join('; ')
        : null;
    if (note) this.log.debug({ metric: def.name, note }, 'custom metric over its bounds');
    return {
      metric: def.name,
      ts,
      rows: error === null ? result.rows : [],
      status: {
        family: customStatusFamily(def.name),
        datname: '',
        ok: error === null,
        error: error ?? note,
        durationMs,
        rows: error === null ? result.rows.length : 0,
      },
    };
  }

  /** A turn of a metric whose query is paused: degraded with `error`, no rows, nothing asked of the server. */
  #pausedRun(def: CustomMetricDef, error: string): CustomRun {
    return {
      metric: def.name,
      ts: this.#now(),
      rows: [],
      status: { family: customStatusFamily(def.name), datname: '', ok: false, error, durationMs: 0, rows: 0 },
    };
  }

  #keep(run: CustomRun): void {
    const list = this.#kept.get(run.metric) ?? [];
    list.push(run);
    if (list.length > maxKeptRuns) list.splice(0, list.length - maxKeptRuns);
    this.#kept.set(run.metric, list);
  }

  /** The runs since the last drain, oldest first per metric, and forgets them. */
  drain(): CustomRun[] {
    const out = [...this.#kept.values()].flat();
    this.#kept.clear();
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    // Ending the connection first cuts a query in flight rather than waiting out its timeout.
    await this.#conn.close();
    await this.#running?.catch(() => {});
    await this.#conn.close();
  }
}
