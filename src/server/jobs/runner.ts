/**
 * Periodic jobs (partitions, rollups, ledger prune, agent presence: one file each beside this one). Each
 * run takes `pg_try_advisory_lock`, so with several servers on one store a job runs on one of them at a
 * time and the others skip that round. Every run records its start, duration and error in `pgvigil.job_runs`.
 */
import type pg from 'pg';
import type { Logger } from '../../log.js';
import {
  jobFigures,
  lockJob,
  recordJobEnd,
  recordJobStart,
  unlockJob,
} from '../../storage/queries/jobs.sql.js';
import type { Registry } from '../../telemetry/metrics.js';

export interface JobContext {
  pool: pg.Pool;
  log: Logger;
  now: Date;
}

export interface Job {
  name: string;
  intervalMs: number;
  /**
   * The job takes locks of its own for parts of its work (the rollups' claims), so that several instances
   * share one run's work: the runner takes no job lock and every instance runs it.
   */
  ownLocks?: true;
  run(ctx: JobContext): Promise<unknown>;
}

export type JobOutcome = 'ran' | 'skipped' | 'failed';

/**
 * Runs one job once if no other server holds its lock; with `wait`, waits for the lock instead of
 * skipping (start-up work that must be done before serving, such as creating today's partitions).
 */
export async function runJobOnce(
  pool: pg.Pool,
  job: Job,
  log: Logger,
  opts: { now?: Date; wait?: boolean } = {},
): Promise<JobOutcome> {
  const now = opts.now ?? new Date();
  const lockClient = await pool.connect();
  try {
    if (!job.ownLocks && !(await lockJob(lockClient, job.name, opts.wait === true))) return 'skipped';
    const started = performance.now();
    await recordJobStart(pool, job.name, job.intervalMs);
    let error: string | null = null;
    try {
      await job.run({ pool, log: log.child({ job: job.name }), now });
    } catch (err) {
      error = (err as Error).message;
      log.error({ job: job.name, err }, 'job failed');
    }
    await recordJobEnd(pool, job.name, performance.now() - started, error);
    return error === null ? 'ran' : 'failed';
  } finally {
    if (!job.ownLocks) await unlockJob(lockClient, job.name).catch(() => {});
    lockClient.release();
  }
}

/**
 * After a failed or unrun round, a job runs again after at most this long rather than its full interval:
 * an hourly job (partitions) that failed once on a loaded store must not leave the rollups without their
 * partitions for an hour.
 */
export const retryAfterFailureMs = 60_000;

/**
 * Jobs of one instance that run at once. Each run holds a connection for its lock and takes more for its
 * work: a dozen jobs starting together would hold every connection of the pool for their locks and wait
 * for the pool until they time out, so the others wait their turn instead.
 */
export const defaultJobConcurrency = 4;

/** Runs each job now and then every `intervalMs`, until stopped. A failing store only delays the next round. */
export function startJobs(
  pool: pg.Pool,
  jobs: readonly Job[],
  log: Logger,
  opts: { retryAfterFailureMs?: number; concurrency?: number } = {},
): { stop(): Promise<void> } {
  const retryMs = opts.retryAfterFailureMs ?? retryAfterFailureMs;
  let free = Math.max(1, opts.concurrency ?? defaultJobConcurrency);
  const queue: Array<() => void> = [];
  const slot = async (): Promise<() => void> => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => queue.push(resolve));
    return () => {
      const next = queue.shift();
      if (next) next();
      else free++;
    };
  };
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  let stopped = false;
  for (const job of jobs) {
    const tick = () => {
      if (stopped) return;
      let next = job.intervalMs;
      const p = slot()
        .then(async (release) => {
          try {
            return stopped ? 'skipped' : await runJobOnce(pool, job, log);
          } finally {
            release();
          }
        })
        .then((outcome) => {
          if (outcome === 'failed') next = Math.min(job.intervalMs, retryMs);
        })
        .catch((err: Error) => {
          next = Math.min(job.intervalMs, retryMs);
          log.warn({ job: job.name, err }, 'job could not run');
        })
        .finally(() => {
          running.delete(p);
          if (!stopped) timers.set(job.name, setTimeout(tick, next).unref());
        });
      running.add(p);
    };
    tick();
  }
  return {
    stop: async () => {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      await Promise.allSettled([...running]);
    },
  };
}

/**
 * Job figures for the server's /metrics, read from `job_runs` at scrape time: they cover the runs of
 * every instance (a job runs on whichever holds its lock), so each instance reports the same numbers.
 */
export function jobMetrics(registry: Registry) {
  const runs = registry.counter(
    'pgvigil_job_runs_total',
    'Runs of each periodic job, on any server instance.',
  );
  const failures = registry.counter('pgvigil_job_failures_total', 'Failed runs of each periodic job.');
  const duration = registry.gauge(
    'pgvigil_job_last_duration_seconds',
    'Duration of the last run of each job.',
  );
  const finished = registry.gauge(
    'pgvigil_job_last_finished_timestamp_seconds',
    'When the last run of each job finished (Unix time).',
  );
  const failing = registry.gauge('pgvigil_job_last_run_failed', '1 when the last run of the job failed.');
  return {
    async refresh(pool: pg.Pool): Promise<void> {
      for (const r of await jobFigures(pool)) {
        const labels = { job: r.job };
        runs.set(Number(r.runs), labels);
        failures.set(Number(r.failures), labels);
        if (r.ms !== null) duration.set(r.ms / 1000, labels);
        if (r.finished !== null) finished.set(r.finished, labels);
        failing.set(r.failed ? 1 : 0, labels);
      }
    },
  };
}
