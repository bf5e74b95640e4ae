/**
 * Checks that judge the fleet in passes (the statement and anomaly checks): a pass lists what it judges
 * once in the store (src/storage/queries/check-pass.sql.ts), and each run of the checks' job, on any
 * instance, takes slices of it until the pass is taken or the run's budget is spent. So instances share a
 * pass, nothing is judged twice in it, and N instances get through it about N times as fast.
 */
import {
  type CheckPass,
  openCheckPass,
  type PassListing,
  type TargetRef,
  takeFromCheckPass,
} from '../../storage/queries/check-pass.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import { inTransactionOf } from '../../storage/tx.js';
import type { Slice } from './types.js';

export interface FleetPassOptions {
  /** The pass's name in the store. */
  name: string;
  /** A new pass begins at most this often (ms; 0 under `Slice.force`). */
  gapMs: number;
  /** Rows one slice takes. */
  sliceRows: number;
  /** A run takes no further slice after this long (ms). */
  runBudgetMs: number;
  /** The checks' own interval (ms), for how long their findings may wait for the next pass. */
  intervalMs: number;
  /** However long passes take, a finding nothing evaluates for this long resolves (ms). */
  maxStaleMs: number;
}

/** What the slices of one run share: the pass's size, and when the run's first slice was taken. */
export interface PassRun {
  size: number;
  /** performance.now() at the run's first slice. */
  started: number;
}

export class FleetPass {
  /** The pass as this instance last saw it: when it began, the last whole one's length, and whether it ended. */
  private seen: { startedAt: number; lastPassMs: number; ended: boolean } | undefined;

  constructor(private readonly opts: FleetPassOptions) {}

  /**
   * The next slice for `slice` (a run's first when it has no `after`: the pass is opened, and begun anew
   * when due, with `listing`). Sets `slice.next` when the pass has more and the run's budget allows.
   * `size` is the pass's size (a slice of every row may read the fleet whole).
   */
  async take(
    db: Queryable,
    now: Date,
    slice: Slice | undefined,
    listing: () => PassListing,
  ): Promise<{ taken: TargetRef[]; size: number }> {
    let run = slice?.after as PassRun | undefined;
    if (!run) {
      const gap = slice?.force ? 0 : this.opts.gapMs;
      const p: CheckPass = await inTransactionOf(db, (c) =>
        openCheckPass(c, this.opts.name, now, gap, listing),
      );
      this.seen = {
        startedAt: p.startedAt,
        lastPassMs: p.lastPassMs ?? this.seen?.lastPassMs ?? 0,
        ended: false,
      };
      run = { size: p.size, started: performance.now() };
    }
    const taken = await takeFromCheckPass(db, this.opts.name, now, this.opts.sliceRows);
    if (taken.length < this.opts.sliceRows) {
      // Nothing left: the pass ended, with this slice when it took any (as far as this instance saw).
      if (this.seen && !this.seen.ended && taken.length > 0)
        this.seen.lastPassMs = now.getTime() - this.seen.startedAt + (performance.now() - run.started);
      if (this.seen) this.seen.ended = true;
    } else if (performance.now() - run.started < this.opts.runBudgetMs && slice) slice.next = run;
    return { taken, size: run.size };
  }

  /**
   * How long a finding of these checks may go without an evaluation before it resolves by time: two passes
   * and an interval, at most `maxStaleMs` (the engine's 30 minutes when that is longer: a fleet one run
   * judges). On a fleet judged in turns a scope waits a pass between two evaluations; a pass under way, the
   * first after a restart among them, counts for as long as it has taken so far.
   */
  staleMs(now: number): number {
    const p = this.seen;
    const current = !p || p.ended ? 0 : now - p.startedAt;
    return Math.min(this.opts.maxStaleMs, 2 * Math.max(p?.lastPassMs ?? 0, current) + this.opts.intervalMs);
  }
}
