/**
 * The findings job: runs the checks that need history, catalog joins or log windows (job checks), then
 * sweeps findings no evaluation has touched for a while and ends expired silences; prunes resolved
 * findings past their retention. Advisory-locked like every job, so one instance runs it at a time.
 */
import { PgvigilError } from '../../errors.js';
import { storeSecurityEvents } from '../../intelligence/checks/security.js';
import type { FindingsEngine } from '../../intelligence/engine.js';
import { pruneResolvedFindings } from '../../storage/queries/findings.sql.js';
import type { Job } from './runner.js';

/** Resolved findings are kept this long after their last change. */
export const resolvedFindingRetentionMs = 30 * 86_400_000;

/** PGVIGIL_FINDINGS_INTERVAL (seconds, default 60, from 5 to 3600). */
export function findingsIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.PGVIGIL_FINDINGS_INTERVAL;
  if (v === undefined || v === '') return 60_000;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 5 || n > 3600) {
    throw new PgvigilError('BAD_ARGUMENT', `PGVIGIL_FINDINGS_INTERVAL=${v}: expected seconds from 5 to 3600`);
  }
  return n * 1000;
}

/**
 * PGVIGIL_FINDINGS_READERS (1–4, default 1): connections the job's largest reads (the statement checks'
 * hour, past 1,000 targets) use side by side — for standbys, or a store with cores to spare. At most 4:
 * each holds a connection of the instance's pool (10 on the primary, 5 a standby) while it reads.
 */
export function findingsReadersFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.PGVIGIL_FINDINGS_READERS;
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 4) {
    throw new PgvigilError('BAD_ARGUMENT', `PGVIGIL_FINDINGS_READERS=${v.slice(0, 20)}: expected 1 to 4`);
  }
  return n;
}

/**
 * `everyCheck`: run every job check now, also those whose own interval has not passed (tests, replays);
 * `readers`: see findingsReadersFromEnv.
 */
export function findingsJob(
  engine: FindingsEngine,
  intervalMs: number,
  opts: { everyCheck?: boolean; readers?: number } = {},
): Job {
  return {
    name: 'findings',
    intervalMs,
    run: async ({ pool, log, now }) => {
      const r = await engine.runJobChecks(now, opts);
      const security = await storeSecurityEvents(pool, now, engine.thresholds);
      const pruned = await pruneResolvedFindings(pool, new Date(now.getTime() - resolvedFindingRetentionMs));
      if (r.events > 0 || pruned > 0 || security.written > 0)
        log.info({ ...r, pruned, security }, 'findings job');
    },
  };
}
