/**
 * Visits to the databases of an instance for the per-database families (tables, indexes, statio), whose
 * views only show the database the session is connected to.
 *
 * Guarantees: at most `concurrency` databases are visited at a time (1: one after another), each over the
 * main connection when it is that database, else over a connection of its own: one kept from an earlier
 * visit (at most `keep` are kept between visits), or a new one. The databases that have a kept
 * connection are visited first, then the others in the order listed; rows and statuses join the
 * collection in the order of the list whatever order the visits run and end in. Connections to other
 * databases, in use or kept, are at most max(`keep`, `concurrency`) at any moment: a new one is opened
 * only after an idle kept one is let go if it would go over (one whose database was visited already in
 * this collection first). Kept connections are let go when their database is dropped, no longer accepts
 * connections or is no longer selected (at the next visit), when they break (closed by the server:
 * `pg_terminate_backend`, `idle_session_timeout`; a new one is opened at the next visit), and when the
 * collector closes (a visit still under way then closes its connection as it ends). A visit refused for
 * want of a connection slot first lets go of an idle kept connection and tries again; with none to let go
 * of while others run, it waits for them (fewer at a time) instead of degrading; refused with none
 * running (after one retry), it degrades as before. A database that cannot be entered or whose connection
 * fails degrades its own families only; a failure of the main connection ends the collection (no new
 * visit starts; those under way finish before it is reported). A database that refuses us for good (a
 * `pg_hba.conf` reject, a revoked CONNECT) is not tried again at every visit — each try is a FATAL line in
 * the server's log — but after a pause (refusals.ts), its families degraded with the reason meanwhile.
 */

import { type Collection, type FamilyRunner, familyStatus } from './families.js';
import { databaseListQuery } from './queries/database.js';
import type { FamilyQuery } from './queries/types.js';
import { type RefusalPause, Refusals } from './refusals.js';
import { closeSession, isConnectionFailure, type PostgresTarget, type Session } from './session.js';

/** Matches a database name against names with `*` wildcards. */
export function matchesAny(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => wildcardMatch(name, p));
}

/**
 * `*` matches any run of characters, everything else itself. Greedy with one backtrack point, so the time
 * is at most name × pattern length whatever the pattern (a regular expression built from `a*a*a*…b` would
 * backtrack exponentially on a long name).
 */
function wildcardMatch(name: string, pattern: string): boolean {
  let n = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === name[n]) {
      n++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether a database is visited and reported, given include and exclude lists. */
export function databaseSelected(
  name: string,
  include: readonly string[],
  exclude: readonly string[],
): boolean {
  if (include.length > 0 && !matchesAny(name, include)) return false;
  return !matchesAny(name, exclude);
}

export interface DatabaseVisitOptions {
  /** Per-database families at most this often (0 = every time). */
  intervalMs: number;
  /** Connections to other databases kept open between visits, at most this many. */
  keep: number;
  /** Databases visited at the same time, at most this many (1 = one after another). */
  concurrency: number;
  include: readonly string[];
  exclude: readonly string[];
  /** The per-database families to collect. */
  queries: readonly FamilyQuery[];
  /** The pause before a database that refused us for good is tried again (refusals.ts). */
  refusalPause?: RefusalPause;
}

/** What a visit refused for want of a connection slot does: see DatabaseVisits.visit. */
type Refusal = 'yield' | 'again' | 'degrade';

export class DatabaseVisits {
  /** Idle connections to other databases, kept between visits (keep > 0), by database. */
  readonly #kept = new Map<string, Session>();
  /** Kept connections taken out of #kept by a visit under way: they go back to it when it ends. */
  readonly #keptInUse = new Set<string>();
  /** New connections (not kept ones) in use by visits under way. */
  #newInUse = 0;
  /** Databases whose visit of the current collection has ended: their kept connections are let go first. */
  readonly #visited = new Set<string>();
  #lastVisit = Number.NEGATIVE_INFINITY;
  /** Once closed, a visit still under way closes its connection when it ends instead of keeping it. */
  #closed = false;
  /** Databases that refused our connection for good. */
  readonly #refusals: Refusals;

  constructor(
    private readonly target: PostgresTarget,
    private readonly runner: FamilyRunner,
    private readonly options: DatabaseVisitOptions,
  ) {
    this.#refusals = new Refusals(options.refusalPause);
  }

  /** Connections to other databases, in use or kept, at most this many at any moment. */
  get #limit(): number {
    return Math.max(this.options.keep, this.options.concurrency);
  }

  /** Whether the databases are due for a visit at `now` (monotonic ms); if so, the visit counts as made. */
  due(now: number): boolean {
    if (now - this.#lastVisit < this.options.intervalMs) return false;
    this.#lastVisit = now;
    return true;
  }

  /** Collects the per-database families in every selected database, listed over the main session. */
  async visit(main: Session, version: number, c: Collection, signal: AbortSignal): Promise<void> {
    const { queries, include, exclude } = this.options;
    if (queries.length === 0) return;
    const { statuses, log } = c;
    let databases: string[];
    try {
      const { rows } = await main.query<{ datname: string }>({
        name: 'pgvigil_databases',
        text: databaseListQuery,
      });
      databases = rows.map((r) => r.datname).filter((d) => databaseSelected(d, include, exclude));
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      const reason = this.target.errorText(err);
      for (const q of queries) statuses.push(familyStatus(q.family, '', reason, performance.now(), 0));
      return;
    }
    // Databases dropped, closed to connections or no longer selected: let go of their connections first,
    // so they hold no slot during the visits.
    for (const [database, s] of this.#kept) {
      if (!databases.includes(database)) {
        this.#kept.delete(database);
        await closeSession(s);
      }
    }
    this.#visited.clear();
    // Each database gathers into its own collection, joined below in the order of the list.
    const gathered: Collection[] = databases.map(() => ({ statuses: [], out: new Map(), log }));
    // Databases with a kept connection first: visited before a new connection needs their slot, they
    // keep it, and the others (more databases than kept connections) take what is left.
    const queue = databases
      .map((_, i) => i)
      .sort(
        (x, y) =>
          Number(!this.#kept.has(databases[x] as string)) - Number(!this.#kept.has(databases[y] as string)),
      );
    let failure: { err: unknown } | undefined;
    const workers = Math.max(1, Math.min(this.options.concurrency, databases.length));
    /** Workers still taking databases from the queue. */
    let active = workers;
    // A visit refused for want of a connection slot (the role's CONNECTION LIMIT, max_connections) while
    // other visits run gives its database back to them and ends its worker: the visits go on with fewer
    // at a time. The last worker never gives up so; a database it cannot enter degrades as before.
    // Backends that start at the same moment can all be refused (each counts the others); so the last
    // worker, refused once others gave up their turn, tries that database once more a moment later.
    let retried = false;
    const refused = async (): Promise<Refusal> => {
      if (active > 1) {
        active--;
        return 'yield';
      }
      if (retried || workers === 1) return 'degrade';
      retried = true;
      await new Promise((r) => setTimeout(r, 100));
      return 'again';
    };
    const worker = async () => {
      while (queue.length > 0 && !failure && !signal.aborted) {
        const i = queue.shift() as number;
        try {
          const db = databases[i] as string;
          const outcome = await this.#visitOne(main, version, db, gathered[i] as Collection, signal, refused);
          if (outcome !== 'visited') queue.unshift(i);
          if (outcome === 'yield') return;
        } catch (err) {
          failure ??= { err };
        }
      }
      // In the same turn as the loop's last test: a visit yielding after this sees one worker fewer.
      active--;
    };
    await Promise.all(Array.from({ length: workers }, worker));
    // A database given back just as the last other worker ended: one worker (which never yields) takes it.
    while (queue.length > 0 && !failure && !signal.aborted) {
      active = 1;
      await worker();
    }
    if (failure) throw failure.err;
    for (const g of gathered) {
      statuses.push(...g.statuses);
      for (const [family, rows] of g.out) {
        const list = c.out.get(family);
        if (list) list.push(...rows);
        else c.out.set(family, rows);
      }
    }
  }

  /**
   * Lets go of one idle kept connection (one whose database was visited already in this collection
   * first); false when there is none.
   */
  async #letGoOfOneKept(): Promise<boolean> {
    let victim: string | undefined;
    for (const database of this.#kept.keys()) {
      if (this.#visited.has(database)) {
        victim = database;
        break;
      }
      victim ??= database;
    }
    if (victim === undefined) return false;
    const s = this.#kept.get(victim);
    this.#kept.delete(victim);
    await closeSession(s);
    return true;
  }

  /** A connection to `database` for one visit: its kept one, else a new one within the limit. */
  async #take(database: string, log: Collection['log']): Promise<Session> {
    const kept = this.#kept.get(database);
    if (kept) {
      this.#kept.delete(database);
      if (!kept.broken) {
        this.#keptInUse.add(database);
        return kept;
      }
      await closeSession(kept);
    }
    while (
      this.#newInUse + 1 + this.#keptInUse.size + this.#kept.size > this.#limit &&
      (await this.#letGoOfOneKept())
    ) {}
    // Counted before the connection starts: visits starting beside it see its slot taken.
    this.#newInUse++;
    try {
      for (;;) {
        try {
          return await this.target.open(database, log, true);
        } catch (err) {
          // 53300: refused for want of a slot; an idle kept connection holds one we can give back.
          if ((err as { code?: unknown }).code !== '53300' || !(await this.#letGoOfOneKept())) throw err;
          log.debug({ datname: database }, 'no connection slot: a kept connection let go of for this visit');
        }
      }
    } catch (err) {
      this.#newInUse--;
      throw err;
    }
  }

  /** The visit of `database` ended: its connection is kept (within `keep`) or closed. */
  async #give(database: string, session: Session): Promise<void> {
    const wasKept = this.#keptInUse.delete(database);
    if (!wasKept) this.#newInUse--;
    this.#visited.add(database);
    const room = wasKept || this.#kept.size + this.#keptInUse.size < this.options.keep;
    if (!this.#closed && !session.broken && room) {
      this.#kept.set(database, session);
    } else await closeSession(session);
  }

  /**
   * One database's families into `c`; throws only when the main connection fails. When its connection
   * is refused for want of a slot, `refused` says whether to leave the database to another visit
   * ('yield'), to try it again ('again'), or to degrade its families as for any other refusal.
   */
  async #visitOne(
    main: Session,
    version: number,
    database: string,
    c: Collection,
    signal: AbortSignal,
    refused: () => Promise<Refusal>,
  ): Promise<'visited' | 'yield' | 'again'> {
    const { queries } = this.options;
    const { statuses, log } = c;
    let session: Session;
    const own = database === main.database;
    const degrade = (reason: string) => {
      for (const q of queries) statuses.push(familyStatus(q.family, database, reason, performance.now(), 0));
    };
    const paused = own ? undefined : this.#refusals.paused(database);
    if (paused !== undefined) {
      degrade(paused);
      return 'visited';
    }
    try {
      session = own ? main : await this.#take(database, log);
    } catch (err) {
      // 53300: too many connections (for the role, the database or the server).
      if ((err as { code?: unknown }).code === '53300') {
        const next = await refused();
        log.debug({ datname: database, next }, 'no connection slot for this visit now');
        if (next !== 'degrade') return next;
      }
      // A database we cannot enter (dropped meanwhile, pg_hba) degrades its own families only.
      const reason = this.target.connectErrorText(err, database);
      this.#refusals.failed(database, err, reason);
      degrade(reason);
      return 'visited';
    }
    if (!own) this.#refusals.succeeded(database);
    try {
      await this.runner.runAll(session, queries, version, database, c, signal);
    } catch (err) {
      if (own) throw err;
      const reason = this.target.errorText(err);
      for (const q of queries) {
        if (!statuses.some((s) => s.family === q.family && s.datname === database)) {
          statuses.push(familyStatus(q.family, database, reason, performance.now(), 0));
        }
      }
    } finally {
      if (!own) await this.#give(database, session);
    }
    return 'visited';
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#kept.values()) await closeSession(s);
    this.#kept.clear();
  }
}
