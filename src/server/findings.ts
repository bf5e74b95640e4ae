/**
 * The findings engine as the server runs it: its events go to the live feed (`alert_fired` /
 * `alert_resolved`) and to the delivery outbox (src/intelligence/notify), inside the transaction that
 * wrote them, and the delivery worker is woken after it commits; its timings and transitions
 * go to /metrics.
 */
import type pg from 'pg';
import { FindingsEngine } from '../intelligence/engine.js';
import type { FindingEvent } from '../intelligence/model.js';
import { enqueueDeliveries } from '../intelligence/notify/enqueue.js';
import { componentLogger, type Logger } from '../log.js';
import type { Registry } from '../telemetry/metrics.js';
import type { AlertFiredMessage, AlertResolvedMessage } from './live/messages.js';
import { publishLive } from './live/notify.js';

export function liveMessageOf(e: FindingEvent): AlertFiredMessage | AlertResolvedMessage {
  const f = e.finding;
  const ts = Date.parse(e.at);
  if (e.event === 'resolved') {
    return {
      type: 'alert_resolved',
      alertId: f.id,
      serverId: f.serverId,
      targetId: f.targetId,
      rule: f.check,
      ts,
    };
  }
  return {
    type: 'alert_fired',
    alertId: f.id,
    serverId: f.serverId,
    targetId: f.targetId,
    rule: f.check,
    severity: f.severity,
    summary: f.title.slice(0, 500),
    value: f.value,
    ts,
  };
}

export function createFindingsEngine(opts: {
  pool: pg.Pool;
  log: Logger;
  registry: Registry;
  /** Wakes the sender after a commit that queued notifications. */
  delivery?: { kick(): void };
  /** The ingest evaluations' clock (default the wall clock; a replay gives its simulated one). */
  clock?: () => number;
}): FindingsEngine {
  const seconds = opts.registry.histogram(
    'pgvigil_findings_evaluation_seconds',
    'Time one evaluation of the checks took, by mode (ingest: one batch; job: all job checks).',
    [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  );
  const checkSeconds = opts.registry.histogram(
    'pgvigil_findings_job_check_seconds',
    'Time one job check took in the findings job (reading its input from the store and evaluating it), by check.',
    [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  );
  const transitions = opts.registry.counter(
    'pgvigil_findings_transitions_total',
    'Finding lifecycle transitions written, by type (open, reopen, update, clear, resolve, unsilence).',
  );
  const applications = opts.registry.counter(
    'pgvigil_findings_applications_total',
    'Evaluations with something to say, by outcome: written (one transaction) or unchanged (nothing new since this instance last wrote it, store skipped).',
  );
  const dropped = opts.registry.counter(
    'pgvigil_findings_dropped_evaluations_total',
    'Batches not evaluated on ingest because their server’s queue of evaluations was full (the rows are stored).',
  );
  const log = componentLogger(opts.log, 'findings');
  return new FindingsEngine({
    pool: opts.pool,
    log,
    ...(opts.clock ? { clock: opts.clock } : {}),
    hooks: {
      observeEvaluation: (mode, s) => seconds.observe(s, { mode }),
      observeJobCheck: (check, s) => checkSeconds.observe(s, { check }),
      countTransition: (type) => transitions.inc({ type }),
      countApplication: (outcome) => applications.inc({ outcome }),
      countDropped: () => dropped.inc(),
      onEvents: async (client, events) => {
        for (const e of events) {
          log.info(
            {
              event: e.event,
              check: e.finding.check,
              serverId: e.finding.serverId,
              severity: e.finding.severity,
              object: e.finding.object,
            },
            e.event === 'fired' ? 'finding fired' : 'finding resolved',
          );
        }
        try {
          await publishLive(client, events.map(liveMessageOf));
        } catch (err) {
          // The live feed is best effort; the finding and its delivery are not.
          log.warn({ err }, 'findings: live feed publish skipped');
        }
        await enqueueDeliveries(client, events);
      },
      // After a commit with events (a kick when no channel matched only makes the worker look once).
      afterCommit: () => opts.delivery?.kick(),
    },
  });
}
