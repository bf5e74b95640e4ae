/**
 * What a check is. A check is data (id, kind, inputs, thresholds with defaults, catalogue text) plus one
 * small pure `evaluate` function: the same function runs on ingest, in the periodic job and in tests on
 * fixtures, and it never reads a clock, a file or the store.
 *
 * Two modes:
 * - `ingest` checks read the rows of one batch for one scope (a server's host families, or one PostgreSQL
 *   target's families) as soon as they are committed; they fire within a second of the batch.
 * - `job` checks need history, several servers or log windows; their `load` gathers the input through
 *   storage query functions (src/storage/queries/) and `evaluate` stays pure.
 *
 * A check that looked at a scope and found nothing there is what resolves that scope's open findings of
 * that check: the engine counts clear evaluations per finding (see ../lifecycle.ts).
 */
import type { Queryable } from '../../storage/queries/queryable.js';
import type { Evidence, FindingKind, Observation, Severity } from '../model.js';

/** The groups of the check catalogue (docs/findings.md has one section each). */
export type CheckGroup =
  | 'postgres'
  | 'host'
  | 'process'
  | 'logs'
  | 'security'
  | 'watchdog'
  | 'slo'
  | 'anomaly';

export interface ThresholdSpec {
  default: number;
  /** `%`, `s`, `bytes`, `count`, `ratio`… for the catalogue and the API. */
  unit: string;
  help: string;
  min?: number;
  max?: number;
}

/** Threshold values by name, with defaults filled in. */
export type Thresholds = Readonly<Record<string, number>>;

/** A row of a family by column name (null-prototype; `ts` in ms since 1970). */
export type Row = Readonly<Record<string, unknown>>;

/** The newest sample of one series with the one before it (same series, earlier ts). */
export interface RowPair {
  cur: Row;
  prev: Row;
  /** cur.ts − prev.ts, seconds (> 0). */
  seconds: number;
}

/** The rows of one batch for one scope, as an ingest check sees them. */
export interface ScopeRows {
  serverId: number;
  targetId: number | null;
  /** The target's name as its agent calls it, '' for host scope. */
  targetName: string;
  /** Every row of the family in this batch for this scope, oldest first. */
  rows(family: string): readonly Row[];
  /** The newest row of each series (rows sharing their label columns). */
  latest(family: string): readonly Row[];
  /**
   * The newest row of each series paired with the previous sample of that series — from this batch, or
   * the one this server instance saw last (no pair on the first sample: never a rate from one sample).
   */
  pairs(family: string): readonly RowPair[];
  /**
   * For sustained conditions: records whether the condition `key` (the check id and its object) holds at
   * `ts` and returns for how many seconds it has held without a break, as this server instance saw it
   * (0 when it does not hold or has just started; see ../scope-rows.ts). Call it once per sample, oldest
   * first.
   */
  since(key: string, holds: boolean, ts: number): number;
  /** A PostgreSQL setting from the newest pg_settings snapshot seen for this target, if any. */
  setting(name: string): string | undefined;
  /** Host facts cached from earlier batches (memory total, cores, filesystems), for checks on target scope. */
  host: HostFacts;
}

/** What the engine remembers of a server's host from its host families, newest batch wins. */
export interface HostFacts {
  memoryTotalBytes?: number;
  cores?: number;
  /** The newest host_filesystem snapshot (at most 64 mounts). */
  filesystems?: ReadonlyArray<{ mountpoint: string; availBytes: number; sizeBytes: number }>;
}

/** What an evaluate function returns: an observation without the parts the engine fills in. */
export interface Draft {
  object: string;
  severity: Severity;
  title: string;
  explanation: string;
  evidence: Evidence;
  action: string;
  value?: number | null;
  /** Overrides the check's kind (a recommendation check that found something urgent). */
  kind?: FindingKind;
}

interface CheckBase {
  /** Stable id, `group.name`: `pg.connections`, `host.disk_fill`. */
  id: string;
  group: CheckGroup;
  kind: FindingKind;
  /** Catalogue title: what the check looks for. */
  title: string;
  /** The evidence it shows and the action it proposes, for the catalogue (docs/findings.md). */
  doc: { evidence: string; action: string };
  thresholds: Readonly<Record<string, ThresholdSpec>>;
  /**
   * Clear evaluations before an open finding resolves (default 2): one good sample after a bad one is not
   * yet recovery.
   */
  clearAfter?: number;
  /**
   * Why the check is off until an admin switches it on (globally, per server or per target), when it is:
   * a check whose false-alert rate, measured by replay (bench/RESULTS.md), is not yet one a team can live
   * with ships off rather than noisy.
   */
  offByDefault?: string;
}

export interface IngestCheck extends CheckBase {
  mode: 'ingest';
  scope: 'host' | 'target';
  /** Families it reads; it is evaluated for a scope only when the batch holds one of them for it. */
  inputs: readonly string[];
  evaluate(input: ScopeRows, t: Thresholds): Draft[];
}

/** A scope a job check looked at: its open findings there that it did not observe are cleared. */
export interface Scope {
  serverId: number;
  targetId: number | null;
}

export interface JobCheck<I = unknown> extends CheckBase {
  mode: 'job';
  /** At most this often (ms), for checks that read much; default: every run of the findings job. */
  intervalMs?: number;
  /**
   * The name of a read made in slices, for checks whose input over the whole fleet would not fit in
   * memory at once. The engine runs the due checks of one name slice by slice: each slice's `load` and
   * `evaluate` for all of them, then the next slice while the read sets `next` on the `Slice`.
   */
  slices?: string;
  /**
   * How long (ms) a finding of this check may go without an evaluation before it resolves by time, when
   * that may be longer than the engine's 30 minutes: a sliced check that judges a large fleet in turns over
   * several runs says how long a turn takes, so that its findings do not resolve and reopen between turns.
   */
  staleMs?: (now: number) => number;
  /**
   * Gathers the input through storage query functions. `run` stands for one run of the findings job
   * (a new object each run), or for one slice of it for a check with `slices` (a `Slice`): reads several
   * checks need are made once per run, or per slice, by `onePerRun`.
   */
  load(db: Queryable, now: Date, run?: object): Promise<I>;
  /** Pure: observations (with their server and target) and the scopes it evaluated. */
  evaluate(
    input: I,
    thresholdsFor: (serverId: number, targetId: number | null) => Thresholds,
    now: number,
  ): { observations: JobObservation[]; scopes: Scope[] };
}

export type JobObservation = Draft & Scope;

/**
 * One slice of a read made in slices (`JobCheck.slices`), passed as `run` to `load`: `after` is where it
 * starts (the `next` of the slice before; absent for a run's first), and the read sets `next` when
 * another slice follows in this run.
 */
export interface Slice {
  after?: unknown;
  next?: unknown;
  /** Connections the slice's read may use side by side (the engine's `readers`; default 1). */
  readers?: number;
  /** Every check was asked to run now (the engine's `everyCheck`: tests, replays), also a read's own pace. */
  force?: boolean;
}

/**
 * `read` made once per run of the findings job (or per slice): the first check of a run that asks reads,
 * the others of the same run get the same answer. Without a run (a check loaded on its own), every call
 * reads.
 */
export function onePerRun<T>(
  read: (db: Queryable, now: Date, run?: object) => Promise<T>,
): (db: Queryable, now: Date, run?: object) => Promise<T> {
  const made = new WeakMap<object, Promise<T>>();
  return (db, now, run) => {
    if (!run) return read(db, now);
    let answer = made.get(run);
    if (!answer) {
      answer = read(db, now, run);
      made.set(run, answer);
    }
    return answer;
  };
}

export type Check = IngestCheck | JobCheck;

/** Completes a draft into an observation. */
export function observation(check: Check, scope: Scope, d: Draft): Observation {
  return {
    check: check.id,
    serverId: scope.serverId,
    targetId: scope.targetId,
    object: d.object,
    kind: d.kind ?? check.kind,
    severity: d.severity,
    title: d.title,
    explanation: d.explanation,
    evidence: d.evidence,
    action: d.action,
    value: d.value ?? null,
  };
}
