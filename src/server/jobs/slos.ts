/**
 * The slos job: records agent starts, creates the default SLOs of targets that have data, counts each
 * SLO's complete hours and stores its status (budget, burn rates) for the API and the `slo.burn_rate`
 * check of the findings job (src/intelligence/slo-store.ts says how). Advisory-locked like every job.
 */
import { runSlos } from '../../intelligence/slo-store.js';
import type { Job } from './runner.js';

export function slosJob(intervalMs = 60_000): Job {
  return {
    name: 'slos',
    intervalMs,
    run: async ({ pool, log, now }) => {
      const r = await runSlos(pool, now, (slo, err) =>
        log.warn({ err, slo: slo.id, name: slo.name }, 'slos: an SLO could not be evaluated'),
      );
      if (r.defaultsCreated > 0 || r.failed > 0) log.info(r, 'slos job');
      return r;
    },
  };
}
