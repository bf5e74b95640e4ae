/**
 * Response schema of an agent's report on itself (src/protocol/agent-health.ts), as GET /servers/:id
 * returns it per agent. The route reads the stored report through `readAgentHealth`, so every field here
 * is present and of its type whatever the agent sent.
 */

import { configReloadResults, logDropReasons } from '../../protocol/agent-health.js';
import { gapReasons } from '../../protocol/batch.js';
import { nullableString } from './read-support.js';

function counts(keys: readonly string[], description: string) {
  return {
    type: 'object',
    description,
    required: [...keys],
    properties: Object.fromEntries(keys.map((k) => [k, { type: 'number' }])),
  } as const;
}

const byStatus = (description: string) =>
  ({
    type: 'object',
    description: `${description}, keyed by HTTP status ("503") or "network" (no answer)`,
    additionalProperties: { type: 'number' },
  }) as const;

export const agentHealthSchema = {
  type: ['object', 'null'],
  description:
    "the agent's report on itself from its latest batch (null before the first): spool, losses, push retries and failures, config reloads; the same figures as pgvigil_agent_* on the agent's /metrics",
  required: ['spool', 'shipper', 'logs', 'config'],
  properties: {
    spool: {
      type: 'object',
      required: ['bytes', 'segments', 'pendingBatches', 'droppedBatches', 'droppedRows'],
      properties: {
        bytes: { type: 'number' },
        segments: { type: 'number' },
        pendingBatches: { type: 'number', description: 'batches waiting to be delivered' },
        memoryBatches: { type: 'number', description: 'batches held in memory: the disk cannot be written' },
        degraded: {
          ...nullableString,
          description: 'disk-full, read-only or io-error; null when writing works',
        },
        corruptRecords: { type: 'number' },
        droppedBatches: counts(gapReasons, 'batches that will never arrive, by reason'),
        droppedRows: counts(gapReasons, 'metric rows in those batches, by reason'),
      },
    },
    shipper: {
      type: 'object',
      required: ['sentBatches', 'failures', 'retries', 'lastSuccessAt'],
      properties: {
        sentBatches: { type: 'number' },
        duplicateBatches: { type: 'number' },
        failures: byStatus('failed push attempts'),
        retries: byStatus('push attempts repeated after a failure'),
        lastSuccessAt: { ...nullableString, description: 'when the server last took a batch (ISO 8601)' },
        state: { type: 'string' },
      },
    },
    logs: {
      type: 'object',
      required: ['droppedEntries', 'pausedDiskFull', 'pauses'],
      properties: {
        droppedEntries: counts(
          logDropReasons,
          'log entries lost: in dropped batches, or over a volume limit',
        ),
        pausedDiskFull: {
          type: 'boolean',
          description: 'log sources stopped reading: the spool disk is full',
        },
        pauses: { type: 'integer', description: 'times the log sources were paused for a full disk' },
      },
    },
    config: {
      type: 'object',
      required: ['reloads'],
      properties: {
        reloads: counts(
          configReloadResults,
          'pushed configurations applied or refused, and pulls that failed',
        ),
      },
    },
  },
} as const;
