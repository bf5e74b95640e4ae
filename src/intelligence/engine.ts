/**
 * The findings engine: runs the checks and applies the lifecycle to the store.
 *
 * - On ingest (`onBatch`, called by the ingest route after the batch committed): the ingest checks run on
 *   the batch's rows, per scope, in memory. Only when something was observed, or this server has
 *   unresolved findings of those checks, does it open a transaction — so a healthy fleet costs one pure
 *   evaluation per batch and no store round trip. Evaluations of one server run one after another.
 * - In the periodic job (`runJobChecks`, src/server/jobs/findings.ts): the job checks load their input
 *   through storage queries and evaluate it; then a sweep resolves findings no evaluation has touched for
 *   `staleMs` and ends expired silences.
 *
 * Every application is one transaction per server, under an advisory lock on that server's findings
 * (several server instances evaluate the same servers): read the stored findings, reconcile
 * (./lifecycle.ts), write the changes and their history, and hand the fired/resolved events to `onEvents`
 * inside the same transaction (live feed NOTIFY, delivery outbox), so an event is published exactly when
 * its change commits.
 *
 * Which servers have unresolved findings is remembered per instance and re-read every `refreshMs`; a
 * finding another instance opened meanwhile is cleared by the next refresh or, at worst, by the sweep.
 */
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { ValidBatch } from '../protocol/batch.js';
import {
  actOnFinding,
  checkSettings,
  type FindingEventRow,
  type FindingWrite,
  findingsByIds,
  findingsForEvaluation,
  insertFindingEvents,
  insertFindings,
  latestTargetSettings,
  lockServerFindings,
  refreshFinding,
  resolveFindingRows,
  setClearCounts,
  unresolvedFindingChecks,
  unsilenceFinding,
  updateFindings,
} from '../storage/queries/findings.sql.js';
import { inTransaction } from '../storage/tx.js';
import { checks as allChecks } from './checks/index.js';
import type { Check, IngestCheck, JobCheck, Slice } from './checks/types.js';
import { observation } from './checks/types.js';
import {
  type Change,
  defaultPolicy,
  type LifecyclePolicy,
  reconcile,
  type StoredFinding,
} from './lifecycle.js';
import type { FindingEvent, Observation } from './model.js';
import { findingKey } from './model.js';
import { SampleMemory, scopesOf } from './scope-rows.js';
import { ThresholdBook } from './thresholds.js';

export interface EngineHooks {
  /** Inside the transaction that wrote the changes: publish to the live feed, queue deliveries. */
  onEvents?(client: pg.PoolClient, events: FindingEvent[]): Promise<void>;
  /** After that transaction committed (wake the delivery worker). */
  afterCommit?(events: FindingEvent[]): void;
  /** Seconds one evaluation took, by mode. */
  observeEvaluation?(mode: 'ingest' | 'job', seconds: number): void;
  /** Seconds one job check took to load its input and evaluate it. */
  observeJobCheck?(check: string, seconds: number): void;
  /** Lifecycle transitions written, by type. */
  countTransition?(type: Change['type']): void;
  /** An evaluation that had something to say: applied in a transaction, or unchanged (store skipped). */
  countApplication?(outcome: 'written' | 'unchanged'): void;
  /** A batch not evaluated because its server's queue of evaluations was full. */
  countDropped?(): void;
}

export interface EngineOptions {
  pool: pg.Pool;
  log: Logger;
  checks?: readonly Check[];
  policy?: Partial<LifecyclePolicy>;
  hooks?: EngineHooks;
  /** How often the remembered unresolved findings and check settings are re-read (ms). */
  refreshMs?: number;
  /** Queued evaluations per server beyond which the oldest is dropped (and counted). */
  maxQueuedPerServer?: number;
  /**
   * The time an ingest evaluation is applied at (ms); default the wall clock. `pgvigil replay` gives its
   * simulated clock, so findings open and resolve at the stream's times.
   */
  clock?: () => number;
}

interface Application {
  serverId: number;
  observations: Observation[];
  /** (check, target) pairs evaluated, as `check|targetId`. */
  evaluated: Set<string>;
  checks: string[];
}

interface AppliedState {
  /** When each check's findings were last read from and written to the store (ms). */
  checkedAt: Map<string, number>;
  /** Unresolved findings by key, as they stood after that. */
  findings: Map<string, StoredFinding>;
}

const evalKey = (check: string, targetId: number | null) => `${check}|${targetId ?? ''}`;

/** The application of `serverId` in `byServer`, made empty when there is none yet. */
function appFor(byServer: Map<number, Application>, serverId: number): Application {
  let a = byServer.get(serverId);
  if (!a) {
    a = { serverId, observations: [], evaluated: new Set(), checks: [] };
    byServer.set(serverId, a);
  }
  return a;
}

/** The applications of `byServer`, each reconciling the findings of `checks`. */
function withChecks(byServer: ReadonlyMap<number, Application>, checks: string[]): Application[] {
  const apps = [...byServer.values()];
  for (const a of apps) a.checks = checks;
  return apps;
}

const countObservations = (byServer: ReadonlyMap<number, Application>) =>
  [...byServer.values()].reduce((n, a) => n + a.observations.length, 0);

export class FindingsEngine {
  readonly memory = new SampleMemory();
  readonly thresholds: ThresholdBook;
  private readonly checks: readonly Check[];
  private readonly ingestChecks: IngestCheck[];
  private readonly jobChecks: JobCheck[];
  private readonly policy: LifecyclePolicy;
  private readonly hooks: EngineHooks;
  /** server → checks with unresolved findings there. */
  private unresolved = new Map<number, Set<string>>();
  private refreshedAt = 0;
  private refreshing: Promise<void> | null = null;
  private readonly chains = new Map<number, { tail: Promise<void>; queued: number }>();
  private readonly knownSettings = new Set<string>();
  private readonly jobCheckRanAt = new Map<string, number>();
  /**
   * Per server, what this instance wrote last: the unresolved findings of each check as they stood after
   * its last application, and when. Within `refreshEveryMs` of that, an evaluation that would change
   * nothing by them (the same findings, same severities, nothing to clear) skips the store — so a lasting
   * finding costs one transaction a minute, not one per batch. Changes made meanwhile by another instance
   * or by hand are seen at the latest when that window ends.
   */
  private readonly applied = new Map<number, AppliedState>();
  /** Families the ingest checks read, and those the scopes take facts from. */
  private readonly wanted: ReadonlySet<string>;
  dropped = 0;

  constructor(private readonly opts: EngineOptions) {
    this.checks = opts.checks ?? allChecks;
    this.ingestChecks = this.checks.filter((c): c is IngestCheck => c.mode === 'ingest');
    this.jobChecks = this.checks.filter((c): c is JobCheck => c.mode === 'job');
    this.thresholds = new ThresholdBook(this.checks);
    this.wanted = new Set([
      ...this.ingestChecks.flatMap((c) => c.inputs),
      'host_memory',
      'host_cpu',
      'host_filesystem',
      'pg_settings',
      'pg_collector',
    ]);
    const clearAfter = new Map(this.checks.map((c) => [c.id, c.clearAfter ?? 2]));
    const staleMs = new Map(this.jobChecks.flatMap((c) => (c.staleMs ? [[c.id, c.staleMs]] : [])));
    this.policy = {
      ...defaultPolicy,
      clearAfter: (id) => clearAfter.get(id) ?? 2,
      staleMsOf: (id, now) => staleMs.get(id)?.(now),
      ...opts.policy,
    };
    this.hooks = opts.hooks ?? {};
  }

  /** Re-reads check settings and which servers have unresolved findings, at most every `refreshMs`. */
  async refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.refreshedAt < (this.opts.refreshMs ?? 30_000)) return;
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      const [settings, counts] = await Promise.all([checkSettings(this.opts.pool), this.unresolvedPairs()]);
      this.thresholds.load(settings);
      this.unresolved = counts;
      this.refreshedAt = Date.now();
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async unresolvedPairs(): Promise<Map<number, Set<string>>> {
    const out = new Map<number, Set<string>>();
    for (const r of await unresolvedFindingChecks(this.opts.pool)) {
      let s = out.get(r.serverId);
      if (!s) {
        s = new Set();
        out.set(r.serverId, s);
      }
      s.add(r.check);
    }
    return out;
  }

  /**
   * Evaluates a committed batch (never throws; failures are logged). Resolves when its findings are
   * applied — the ingest route does not wait for it.
   */
  onBatch(serverId: number, batch: ValidBatch, targetIds: ReadonlyMap<string, number>): Promise<void> {
    let chain = this.chains.get(serverId);
    if (!chain) {
      chain = { tail: Promise.resolve(), queued: 0 };
      this.chains.set(serverId, chain);
    }
    if (chain.queued >= (this.opts.maxQueuedPerServer ?? 50)) {
      // The store is slower than this server's batches arrive: skip evaluating this one (its rows are
      // stored; the next batch is evaluated), count it, and say so once in a while.
      if (this.dropped++ % 1000 === 0) {
        this.opts.log.warn(
          { serverId, dropped: this.dropped },
          'findings: evaluations queue full; batch not evaluated',
        );
      }
      this.hooks.countDropped?.();
      return Promise.resolve();
    }
    chain.queued++;
    const c = chain;
    const run = c.tail.then(async () => {
      c.queued--;
      try {
        await this.evaluateBatch(serverId, batch, targetIds);
      } catch (err) {
        this.opts.log.warn({ err, serverId }, 'findings: evaluating a batch failed');
      }
    });
    c.tail = run;
    void run.finally(() => {
      if (c.tail === run && c.queued === 0) this.chains.delete(serverId);
    });
    return run;
  }

  private async evaluateBatch(
    serverId: number,
    batch: ValidBatch,
    targetIds: ReadonlyMap<string, number>,
  ): Promise<void> {
    await this.refresh().catch((err) => this.opts.log.warn({ err }, 'findings: refresh failed'));
    const started = performance.now();
    const scopes = scopesOf(serverId, batch, targetIds, this.memory, this.wanted);
    const app: Application = { serverId, observations: [], evaluated: new Set(), checks: [] };
    for (const s of scopes) {
      if (s.targetId !== null && s.tables.has('pg_instance')) await this.ensureSettings(serverId, s.targetId);
      const failed = failedFamilies(s.latest('pg_collector'));
      for (const check of this.ingestChecks) {
        if ((check.scope === 'host') !== (s.targetId === null)) continue;
        if (!check.inputs.some((f) => s.tables.has(f))) continue;
        // A family that failed to collect says nothing about whether the condition is over: this batch
        // does not count towards clearing the check's open findings.
        if (!check.inputs.some((f) => failed.has(f))) app.evaluated.add(evalKey(check.id, s.targetId));
        if (!this.thresholds.enabled(check.id, serverId, s.targetId)) continue;
        try {
          for (const d of check.evaluate(s, this.thresholds.for(check.id, serverId, s.targetId))) {
            app.observations.push(observation(check, s, d));
          }
        } catch (err) {
          this.opts.log.warn({ err, check: check.id, serverId }, 'findings: a check failed on a batch');
        }
      }
      s.commit();
    }
    this.hooks.observeEvaluation?.('ingest', (performance.now() - started) / 1000);
    const known = this.unresolved.get(serverId);
    const touched = [...app.evaluated].some((k) => known?.has(k.slice(0, k.indexOf('|'))));
    if (app.observations.length === 0 && !touched) return;
    app.checks = [...new Set([...app.evaluated].map((k) => k.slice(0, k.indexOf('|'))))];
    const nowMs = this.opts.clock?.() ?? Date.now();
    if (this.unchangedSinceLastApply(app, nowMs)) {
      this.hooks.countApplication?.('unchanged');
      return;
    }
    await this.apply([app], nowMs);
  }

  /** True when, by what this instance last wrote (recently), this evaluation would change nothing. */
  private unchangedSinceLastApply(app: Application, nowMs: number): boolean {
    const state = this.applied.get(app.serverId);
    if (!state) return false;
    for (const c of app.checks) {
      const at = state.checkedAt.get(c);
      if (at === undefined || nowMs - at >= this.policy.refreshEveryMs) return false;
    }
    const stored = [...state.findings.values()].filter((f) => app.checks.includes(f.check));
    const evaluated = (f: StoredFinding) => app.evaluated.has(evalKey(f.check, f.targetId));
    return reconcile(stored, { observations: app.observations, evaluated }, nowMs, this.policy).length === 0;
  }

  /** Records the unresolved findings of `checks` on a server as they stand after an application. */
  private rememberApplied(
    serverId: number,
    checks: readonly string[],
    stored: readonly StoredFinding[],
    changes: readonly Change[],
    ids: ReadonlyMap<string, string>,
    nowMs: number,
  ): void {
    let state = this.applied.get(serverId);
    if (!state) {
      if (this.applied.size >= 100_000) this.applied.clear();
      state = { checkedAt: new Map(), findings: new Map() };
      this.applied.set(serverId, state);
    }
    const after = state.findings;
    for (const [key, f] of after) if (checks.includes(f.check)) after.delete(key);
    for (const f of stored) if (f.state !== 'resolved' && checks.includes(f.check)) after.set(f.key, f);
    for (const ch of changes) {
      switch (ch.type) {
        case 'open': {
          const o = ch.observation;
          after.set(ch.key, {
            id: ids.get(ch.key) ?? '',
            key: ch.key,
            check: o.check,
            serverId: o.serverId,
            targetId: o.targetId,
            state: 'open',
            severity: o.severity,
            clearCount: 0,
            flaps: 0,
            notified: ch.notify,
            lastSeen: nowMs,
            resolvedAt: null,
            silencedUntil: null,
          });
          break;
        }
        case 'reopen': {
          const silenced = ch.stored.silencedUntil !== null && ch.stored.silencedUntil > nowMs;
          after.set(ch.stored.key, {
            ...ch.stored,
            state: silenced ? 'silenced' : 'open',
            severity: ch.observation.severity,
            clearCount: 0,
            flaps: ch.flaps,
            notified: ch.notify,
            lastSeen: nowMs,
            resolvedAt: null,
          });
          break;
        }
        case 'update':
          after.set(ch.stored.key, {
            ...ch.stored,
            severity: ch.observation.severity,
            clearCount: 0,
            lastSeen: nowMs,
            notified: ch.stored.notified || ch.notify,
          });
          break;
        case 'clear':
          after.set(ch.stored.key, { ...ch.stored, clearCount: ch.clearCount });
          break;
        case 'resolve':
          after.delete(ch.stored.key);
          break;
        case 'unsilence':
          after.set(ch.stored.key, { ...ch.stored, state: 'open' });
          break;
      }
    }
    for (const c of checks) state.checkedAt.set(c, nowMs);
  }

  /** Settings survive a server restart through the store: read once per target when none are known. */
  private async ensureSettings(serverId: number, targetId: number): Promise<void> {
    const key = `${serverId}|${targetId}`;
    if (this.knownSettings.has(key)) return;
    this.knownSettings.add(key);
    if (this.memory.settingsOf(key)) return;
    const values = await latestTargetSettings(this.opts.pool, serverId, targetId);
    if (values.size > 0 && !this.memory.settingsOf(key)) this.memory.storeSettings(key, values);
  }

  /**
   * Runs every job check once, applies what they found, and sweeps stale findings and silences.
   * `readers`: connections a sliced read may use side by side (default 1). `sliced`: only the checks that
   * read in slices (their own jobs, which pace them by their intervals), or all but them (the findings job
   * when those jobs run them); default all. `slices`: only the checks of the read of that name (one such
   * job).
   */
  async runJobChecks(
    now = new Date(),
    opts: { everyCheck?: boolean; readers?: number; sliced?: 'only' | 'skip'; slices?: string } = {},
  ): Promise<{ observations: number; events: number }> {
    await this.refresh(true);
    const started = performance.now();
    const only = opts.sliced === 'only' || opts.slices !== undefined;
    const due: JobCheck[] = [];
    for (const check of this.jobChecks) {
      const inSlices = check.slices !== undefined;
      if ((only && !inSlices) || (opts.sliced === 'skip' && inSlices)) continue;
      if (opts.slices !== undefined && check.slices !== opts.slices) continue;
      // A check that reads much runs less often than the job; between its runs its findings stand.
      const last = this.jobCheckRanAt.get(check.id);
      const isDue =
        last === undefined || now.getTime() < last || now.getTime() - last >= (check.intervalMs ?? 0);
      if (!isDue && !opts.everyCheck && !only) continue;
      // Off everywhere (off by default and switched on nowhere): not even its input is read.
      if (!this.thresholds.enabledAnywhere(check.id)) continue;
      this.jobCheckRanAt.set(check.id, now.getTime());
      due.push(check);
    }
    // Checks reading the same slices run together, slice by slice; the others each once, all on `run`,
    // the object reads several checks share are made once for (onePerRun).
    const run = {};
    const readers = opts.readers ?? 1;
    const groups = new Map<string | JobCheck, JobCheck[]>();
    for (const check of due) {
      const key = check.slices ?? check;
      const group = groups.get(key);
      if (group) group.push(check);
      else groups.set(key, [check]);
    }
    // What the checks found is written in two steps: first that of the checks read once, then that of the
    // sliced ones. A sliced read of a large fleet may take minutes (its budget), and the other checks'
    // findings (a disk filling, a standby behind) must not wait for it. Each step reconciles only its own
    // checks, so that the first does not take the sliced checks' findings for unevaluated ones.
    const sliced = due.filter((c) => c.slices !== undefined).map((c) => c.id);
    // Left to another job, the sliced checks' findings are that job's to reconcile, due or not.
    const elsewhere =
      opts.sliced === 'skip' ? this.jobChecks.filter((c) => c.slices).map((c) => c.id) : sliced;
    const once = this.checks.map((c) => c.id).filter((id) => !elsewhere.includes(id));
    let events = 0;
    let observations = 0;
    if (!only) {
      const byServer = new Map<number, Application>();
      for (const [key, checks] of groups) {
        if (typeof key !== 'string') await this.runJobGroup(checks, undefined, run, now, byServer);
      }
      // The sweep: every server with unresolved findings gets an application, so stale ones time out.
      for (const serverId of this.unresolved.keys()) appFor(byServer, serverId);
      events += await this.apply(withChecks(byServer, once), now.getTime());
      observations += countObservations(byServer);
    }
    if (sliced.length > 0) {
      const bySlice = new Map<number, Application>();
      for (const [key, checks] of groups) {
        const first: Slice = { readers, ...(opts.everyCheck ? { force: true } : {}) };
        if (typeof key === 'string') await this.runJobGroup(checks, first, run, now, bySlice);
      }
      // The sweep again, for the sliced checks' findings (of targets no longer read, say).
      for (const [serverId, checks] of this.unresolved)
        if (sliced.some((id) => checks.has(id))) appFor(bySlice, serverId);
      events += await this.apply(withChecks(bySlice, sliced), now.getTime());
      observations += countObservations(bySlice);
    }
    this.hooks.observeEvaluation?.('job', (performance.now() - started) / 1000);
    return { observations, events };
  }

  /**
   * Runs the job checks of one group — one check, or the checks of one sliced read, slice by slice from
   * `slice` — and adds what they found and evaluated to `byServer`.
   */
  private async runJobGroup(
    checks: readonly JobCheck[],
    first: Slice | undefined,
    run: object,
    now: Date,
    byServer: Map<number, Application>,
  ): Promise<void> {
    const tFor = (check: string) => (serverId: number, targetId: number | null) =>
      this.thresholds.for(check, serverId, targetId);
    const seconds = new Map<string, number>();
    let slice = first;
    let left = checks;
    for (;;) {
      const failed = new Set<JobCheck>();
      for (const check of left) {
        const started = performance.now();
        try {
          const input = await check.load(this.opts.pool, now, slice ?? run);
          const result = check.evaluate(input, tFor(check.id), now.getTime());
          for (const s of result.scopes)
            appFor(byServer, s.serverId).evaluated.add(evalKey(check.id, s.targetId));
          for (const o of result.observations) {
            if (!this.thresholds.enabled(check.id, o.serverId, o.targetId)) continue;
            const a = appFor(byServer, o.serverId);
            a.evaluated.add(evalKey(check.id, o.targetId));
            a.observations.push(observation(check, o, o));
          }
        } catch (err) {
          this.opts.log.warn({ err, check: check.id }, 'findings: a job check failed');
          failed.add(check);
        } finally {
          seconds.set(check.id, (seconds.get(check.id) ?? 0) + (performance.now() - started) / 1000);
        }
      }
      left = left.filter((c) => !failed.has(c));
      // A check that failed on a slice sits out the rest of the run; what earlier slices found stands.
      if (!slice || slice.next === undefined || left.length === 0) break;
      slice = { ...slice, after: slice.next, next: undefined };
    }
    for (const [id, s] of seconds) this.hooks.observeJobCheck?.(id, s);
  }

  /** One transaction per server: reconcile and write. Returns the events published. */
  private async apply(apps: readonly Application[], nowMs: number): Promise<number> {
    let published = 0;
    for (const app of apps) {
      this.hooks.countApplication?.('written');
      const events = await inTransaction(this.opts.pool, (client) => this.applyOne(client, app, nowMs)).catch(
        (err: unknown) => {
          this.applied.delete(app.serverId);
          throw err;
        },
      );
      if (events.length > 0) this.hooks.afterCommit?.(events);
      published += events.length;
    }
    return published;
  }

  private async applyOne(client: pg.PoolClient, app: Application, nowMs: number): Promise<FindingEvent[]> {
    const now = new Date(nowMs);
    await lockServerFindings(client, [app.serverId]);
    const keys = app.observations.map(findingKey);
    const stored: StoredFinding[] = await findingsForEvaluation(client, app.serverId, keys, app.checks);
    const changes = reconcile(
      stored,
      { observations: app.observations, evaluated: (f) => app.evaluated.has(evalKey(f.check, f.targetId)) },
      nowMs,
      this.policy,
    );
    const history: FindingEventRow[] = [];
    const fired: string[] = [];
    const resolved: string[] = [];
    // The writes of one evaluation go out as one statement per kind of change (a host's first batch may
    // open dozens of findings); the history keeps the order of the changes.
    const openedIds = await insertFindings(
      client,
      changes.flatMap((ch) =>
        ch.type === 'open' ? [{ f: toWrite(ch.key, ch.observation), notified: ch.notify }] : [],
      ),
      now,
    );
    const updates: { id: string; f: FindingWrite; notified?: boolean }[] = [];
    const clears: { id: string; clearCount: number }[] = [];
    const resolutions: { id: string; reason: string }[] = [];
    for (const ch of changes) {
      this.hooks.countTransition?.(ch.type);
      switch (ch.type) {
        case 'open': {
          const id = openedIds.get(ch.key)!;
          history.push(ev(id, 'opened', ch.observation.severity, evidenceOf(ch.observation)));
          if (ch.notify) fired.push(id);
          break;
        }
        case 'reopen': {
          await refreshFinding(client, ch.stored.id, toWrite(ch.stored.key, ch.observation), now, {
            reopen: true,
            flaps: ch.flaps,
            notified: ch.notify,
          });
          history.push(
            ev(ch.stored.id, 'reopened', ch.observation.severity, {
              flaps: ch.flaps,
              ...evidenceOf(ch.observation),
            }),
          );
          if (ch.notify) fired.push(ch.stored.id);
          break;
        }
        case 'update': {
          updates.push({
            id: ch.stored.id,
            f: toWrite(ch.stored.key, ch.observation),
            notified: ch.notify ? true : undefined,
          });
          if (ch.observation.severity !== ch.stored.severity) {
            history.push(
              ev(ch.stored.id, ch.escalated ? 'escalated' : 'deescalated', ch.observation.severity, {
                from: ch.stored.severity,
                ...evidenceOf(ch.observation),
              }),
            );
          }
          if (ch.notify) fired.push(ch.stored.id);
          break;
        }
        case 'clear':
          clears.push({ id: ch.stored.id, clearCount: ch.clearCount });
          break;
        case 'resolve':
          resolutions.push({ id: ch.stored.id, reason: ch.reason });
          history.push(ev(ch.stored.id, 'resolved', ch.stored.severity, { reason: ch.reason }));
          if (ch.notify) resolved.push(ch.stored.id);
          break;
        case 'unsilence':
          await unsilenceFinding(client, ch.stored.id, now);
          history.push(ev(ch.stored.id, 'unsilenced', ch.stored.severity, {}));
          break;
      }
    }
    await updateFindings(client, updates, now);
    await setClearCounts(client, clears);
    await resolveFindingRows(client, resolutions, now);
    await insertFindingEvents(client, history, now);
    this.remember(app.serverId, changes);
    // Recorded before the commit: a failed commit leaves a state that did not happen, so forget it then.
    this.rememberApplied(app.serverId, app.checks, stored, changes, openedIds, nowMs);
    const rows = await findingsByIds(client, [...fired, ...resolved]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const at = now.toISOString();
    const events: FindingEvent[] = [
      ...fired.flatMap((id) =>
        byId.has(id) ? [{ event: 'fired' as const, finding: byId.get(id)!, at }] : [],
      ),
      ...resolved.flatMap((id) =>
        byId.has(id) ? [{ event: 'resolved' as const, finding: byId.get(id)!, at }] : [],
      ),
    ];
    if (events.length > 0) await this.hooks.onEvents?.(client, events);
    return events;
  }

  /** Keeps the remembered unresolved (server, check) pairs in step with this instance's own writes. */
  private remember(serverId: number, changes: readonly Change[]): void {
    let s = this.unresolved.get(serverId);
    for (const ch of changes) {
      if (ch.type === 'open' || ch.type === 'reopen') {
        if (!s) {
          s = new Set();
          this.unresolved.set(serverId, s);
        }
        s.add(ch.observation.check);
      }
    }
  }

  /**
   * A hand action on an unresolved finding, with its history row; a hand resolution is published and
   * delivered like any other. Returns false when there is no such unresolved finding.
   */
  async act(
    id: string,
    action: 'acknowledge' | 'silence' | 'unsilence' | 'resolve',
    by: string,
    until?: Date,
  ): Promise<boolean> {
    const now = new Date();
    let serverId: number | undefined;
    const events = await inTransaction(this.opts.pool, async (client) => {
      const [before] = await findingsByIds(client, [id]);
      if (!before) return null;
      serverId = before.serverId;
      await lockServerFindings(client, [before.serverId]);
      const notified = await actOnFinding(client, id, action, by, now, until);
      if (notified === null) return null;
      const event = {
        acknowledge: 'acknowledged',
        silence: 'silenced',
        unsilence: 'unsilenced',
        resolve: 'resolved',
      }[action];
      await insertFindingEvents(
        client,
        [
          {
            findingId: id,
            event,
            severity: before.severity,
            actor: by,
            detail: until ? { until: until.toISOString() } : {},
          },
        ],
        now,
      );
      if (action !== 'resolve' || !notified) return [];
      const [after] = await findingsByIds(client, [id]);
      const out: FindingEvent[] = [{ event: 'resolved', finding: after!, at: now.toISOString() }];
      await this.hooks.onEvents?.(client, out);
      return out;
    });
    if (serverId !== undefined) this.applied.delete(serverId);
    if (events === null) return false;
    if (events.length > 0) this.hooks.afterCommit?.(events);
    return true;
  }

  /** Waits for every queued ingest evaluation (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()].map((c) => c.tail));
  }
}

/** Families the agent reports failing in this batch (pg_collector rows with ok = false). */
function failedFamilies(rows: readonly Readonly<Record<string, unknown>>[]): Set<string> {
  const out = new Set<string>();
  for (const r of rows) if (r.ok === false && typeof r.family === 'string') out.add(r.family);
  return out;
}

function toWrite(key: string, o: Observation): FindingWrite {
  return {
    key,
    check: o.check,
    serverId: o.serverId,
    targetId: o.targetId,
    object: o.object,
    kind: o.kind,
    severity: o.severity,
    title: o.title,
    explanation: o.explanation,
    evidence: o.evidence,
    action: o.action,
    value: o.value ?? null,
  };
}

function ev(findingId: string, event: string, severity: string, detail: unknown): FindingEventRow {
  return { findingId, event, severity, actor: null, detail };
}

function evidenceOf(o: Observation): { value: number | null; title: string } {
  return { value: o.value ?? null, title: o.title };
}
