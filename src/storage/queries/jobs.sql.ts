/** Periodic jobs: the advisory lock that lets one server run a job at a time, and `pgvigil.job_runs`. */
import type { Queryable } from './queryable.js';

/** First key of the two-key advisory lock space used for jobs ("pv"). */
const jobLockSpace = 0x7076;

/** Takes a job's session-level lock (waiting for it with `wait`); false when another holds it. */
export async function lockJob(db: Queryable, job: string, wait: boolean): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(
    wait
      ? 'SELECT pg_advisory_lock($1, hashtext($2)) IS NOT NULL AS locked'
      : 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
    [jobLockSpace, job],
  );
  return rows[0]?.locked === true;
}

export async function unlockJob(db: Queryable, job: string): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1, hashtext($2))', [jobLockSpace, job]);
}

/** Records a run's start and the job's interval (the watchdog calls a job late after 3 intervals). */
export async function recordJobStart(db: Queryable, job: string, intervalMs: number): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.job_runs (job, last_started_at, interval_ms) VALUES ($1, now(), $2)
     ON CONFLICT (job) DO UPDATE SET last_started_at = now(), interval_ms = $2`,
    [job, intervalMs],
  );
}

export async function recordJobEnd(
  db: Queryable,
  job: string,
  durationMs: number,
  error: string | null,
): Promise<void> {
  await db.query(
    `UPDATE pgvigil.job_runs SET last_finished_at = now(), last_duration_ms = $2, last_error = $3,
            runs = runs + 1, failures = failures + CASE WHEN $3::text IS NULL THEN 0 ELSE 1 END
      WHERE job = $1`,
    [job, durationMs, error],
  );
}

export interface JobFigures {
  job: string;
  runs: string;
  failures: string;
  ms: number | null;
  finished: number | null;
  failed: boolean;
}

/** Every job's counts and last run, for /metrics. */
export async function jobFigures(db: Queryable): Promise<JobFigures[]> {
  const { rows } = await db.query<JobFigures>(
    `SELECT job, runs, failures, last_duration_ms AS ms, extract(epoch FROM last_finished_at)::float8 AS finished,
            last_error IS NOT NULL AS failed
       FROM pgvigil.job_runs`,
  );
  return rows;
}

export interface JobStatus {
  job: string;
  lastStartedAt: Date | null;
  lastFinishedAt: Date | null;
  lastDurationMs: number | null;
  lastError: string | null;
  running: boolean;
  runs: number;
  failures: number;
}

/** Every job's status, for the admin API. */
export async function jobStatuses(db: Queryable): Promise<JobStatus[]> {
  const { rows } = await db.query<JobStatus>(
    `SELECT job, last_started_at AS "lastStartedAt", last_finished_at AS "lastFinishedAt",
            last_duration_ms AS "lastDurationMs", last_error AS "lastError",
            (last_started_at IS NOT NULL AND (last_finished_at IS NULL OR last_finished_at < last_started_at)) AS running,
            runs::int AS runs, failures::int AS failures
       FROM pgvigil.job_runs ORDER BY job`,
  );
  return rows;
}
