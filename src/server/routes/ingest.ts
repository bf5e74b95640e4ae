/**
 * POST /api/v1/ingest — agents push sealed batches here (role: agent).
 *
 * Order of work, cheapest refusal first: credential (before the body is read) → per-agent rate limit →
 * content type → compressed size (fastify body limit) → gunzip with an output cap → JSON → full
 * validation → the group-commit writer. The answer comes after the commit: 200 {status: accepted |
 * duplicate}. A batch that can never succeed gets 400/413/415 (the agent dead-letters it); a store that
 * is down or a full queue gets 503 with Retry-After (the agent retries later).
 */
import { gunzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import {
  batchMediaType,
  defaultBatchLimits,
  supportedBatchMediaTypes,
  validateBatch,
} from '../../protocol/batch.js';
import type { Registry } from '../../telemetry/metrics.js';
import type { AgentAuthenticator } from '../auth/agents.js';
import { agentGuard } from '../auth/guard.js';
import { encodeTable } from '../ingest/copy.js';
import type { IngestMetrics, IngestWriter } from '../ingest/writer.js';
import { sampleMessage } from '../live/summary.js';
import { RateLimiter } from '../ratelimit.js';

export interface IngestLimits {
  /** Compressed body, bytes. */
  maxBodyBytes: number;
  /** Decompressed body, bytes (zlib maxOutputLength: a decompression bomb stops here). */
  maxDecompressedBytes: number;
  /** Rows older than this are refused (raw retention). */
  maxAgeMs: number;
  /** Pushes per second per agent, and burst. */
  agentRatePerSecond: number;
  agentBurst: number;
}

export const defaultIngestLimits: IngestLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxDecompressedBytes: 64 * 1024 * 1024,
  maxAgeMs: defaultBatchLimits.maxAgeMs,
  agentRatePerSecond: 20,
  agentBurst: 100,
};

export interface IngestRouteOptions {
  pool: pg.Pool;
  auth: AgentAuthenticator;
  writer: IngestWriter;
  metrics: IngestMetrics;
  registry: Registry;
  limits: IngestLimits;
}

function retryAfter(reply: FastifyReply, seconds: number): void {
  reply.header('retry-after', String(seconds));
}

export const ingestRoutes: FastifyPluginAsync<IngestRouteOptions> = async (app, opts) => {
  const { limits, metrics } = opts;
  const phase = opts.registry.histogram(
    'pgvigil_ingest_phase_seconds',
    'Time per ingest phase (decode = gunzip + JSON, validate, encode, write = queue + commit).',
  );
  const limiter = new RateLimiter(limits.agentRatePerSecond, limits.agentBurst);
  const targetIds = new Map<string, number>();

  // Any content type reaches the handler as a Buffer, so unknown types get our 415 with the list.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxBodyBytes }, (_req, body, done) =>
    done(null, body),
  );

  async function resolveTarget(serverId: number, name: string): Promise<number> {
    const key = `${serverId}/${name}`;
    const cached = targetIds.get(key);
    if (cached !== undefined) return cached;
    const { rows } = await opts.pool.query<{ target_id: number }>(
      `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', $2)
       ON CONFLICT (server_id, kind, name) DO UPDATE SET name = EXCLUDED.name RETURNING target_id`,
      [serverId, name],
    );
    const id = Number(rows[0]!.target_id);
    if (targetIds.size > 100_000) targetIds.clear();
    targetIds.set(key, id);
    return id;
  }

  const refuse = (reason: string, err: PgvigilError): never => {
    metrics.rejectedBatches.inc({ reason });
    throw err;
  };

  app.post(
    '/ingest',
    {
      config: { role: 'agent' },
      onRequest: agentGuard(opts.auth),
      bodyLimit: limits.maxBodyBytes,
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['status', 'seq', 'rows'],
            properties: {
              status: { type: 'string', enum: ['accepted', 'duplicate'] },
              seq: { type: 'integer' },
              rows: { type: 'integer' },
              rejectedRows: {
                type: 'object',
                properties: { future: { type: 'integer' }, tooOld: { type: 'integer' } },
              },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const agent = req.agent!;
      const wait = limiter.take(agent.agentId);
      if (wait > 0) {
        retryAfter(reply, wait);
        refuse(
          'rate-limited',
          new PgvigilError('RATE_LIMITED', `more than ${limits.agentRatePerSecond} pushes/s from this agent`),
        );
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== batchMediaType) {
        refuse(
          'media-type',
          new PgvigilError(
            'UNSUPPORTED_MEDIA_TYPE',
            `content type "${type || '(none)'}" is not supported; supported: ${supportedBatchMediaTypes.join(', ')}`,
          ),
        );
      }
      const raw = req.body as Buffer;
      const t0 = performance.now();
      let text: Buffer = raw;
      const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding === 'gzip') {
        try {
          // Synchronous: a batch inflates in well under a millisecond, less than a thread-pool round trip
          // costs under load; the output cap bounds the worst case.
          text = gunzipSync(raw, { maxOutputLength: limits.maxDecompressedBytes });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
            refuse(
              'too-large',
              new PgvigilError(
                'BATCH_TOO_LARGE',
                `decompressed body exceeds ${limits.maxDecompressedBytes} bytes`,
              ),
            );
          }
          refuse(
            'bad-gzip',
            new PgvigilError('BATCH_INVALID', `body is not valid gzip: ${(err as Error).message}`),
          );
        }
      } else if (encoding !== 'identity') {
        refuse(
          'encoding',
          new PgvigilError(
            'UNSUPPORTED_MEDIA_TYPE',
            `content encoding "${encoding}" is not supported; use gzip`,
          ),
        );
      } else if (raw.length > limits.maxDecompressedBytes) {
        refuse('too-large', new PgvigilError('BATCH_TOO_LARGE'));
      }
      let body: unknown;
      try {
        body = JSON.parse(text.toString('utf8'));
      } catch (err) {
        refuse(
          'bad-json',
          new PgvigilError('BATCH_INVALID', `body is not valid JSON: ${(err as Error).message}`),
        );
      }
      const t1 = performance.now();
      const v = validateBatch(body, { ...defaultBatchLimits, maxAgeMs: limits.maxAgeMs });
      const t2 = performance.now();
      if (!v.ok) {
        if (v.kind === 'version')
          return refuse('version', new PgvigilError('UNSUPPORTED_MEDIA_TYPE', v.message));
        if (v.kind === 'too-large') {
          return refuse('too-large', new PgvigilError('BATCH_TOO_LARGE', `${v.path}: ${v.message}`));
        }
        return refuse('invalid', new PgvigilError('BATCH_INVALID', `${v.path}: ${v.message}`));
      }
      const batch = v.batch;
      if (batch.agentId !== agent.agentId) {
        refuse(
          'agent-mismatch',
          new PgvigilError(
            'AGENT_MISMATCH',
            `batch of agent ${batch.agentId} sent with the credential of agent ${agent.agentId}`,
          ),
        );
      }
      const ids = new Map<string, number>();
      for (const t of batch.tables) {
        if (t.targetIndex < 0) continue;
        for (const row of t.rows) {
          const name = row[t.targetIndex] as string;
          if (!ids.has(name)) ids.set(name, await resolveTarget(agent.serverId, name));
        }
      }
      const chunks = batch.tables.map((t) => encodeTable(t, agent.serverId, ids));
      const live = sampleMessage(agent.serverId, agent.agentId, batch, ids).json;
      const t3 = performance.now();
      let outcome: 'accepted' | 'duplicate';
      try {
        outcome = await opts.writer.submit({
          serverId: agent.serverId,
          agentId: agent.agentId,
          seq: batch.seq,
          chunks,
          rowCount: batch.rowCount,
          gaps: batch.gaps,
          rejected: batch.rejected,
          live,
        });
      } catch (err) {
        if (err instanceof PgvigilError && err.status === 503)
          retryAfter(reply, err.code === 'INGEST_OVERLOADED' ? 1 : 5);
        throw err;
      }
      const t4 = performance.now();
      phase.observe((t1 - t0) / 1000, { phase: 'decode' });
      phase.observe((t2 - t1) / 1000, { phase: 'validate' });
      phase.observe((t3 - t2) / 1000, { phase: 'encode' });
      phase.observe((t4 - t3) / 1000, { phase: 'write' });
      if (batch.status) void saveStatus(opts.pool, agent.agentId, batch.status);
      return { status: outcome, seq: batch.seq, rows: batch.rowCount, rejectedRows: batch.rejected };
    },
  );
};

const statusSavedAt = new Map<string, number>();

/** Keeps the agent's latest self-report (collector health) at most every 30 s; best effort. */
async function saveStatus(pool: pg.Pool, agentId: string, status: Record<string, unknown>): Promise<void> {
  const now = Date.now();
  if (now - (statusSavedAt.get(agentId) ?? 0) < 30_000) return;
  statusSavedAt.set(agentId, now);
  await pool
    .query('UPDATE pgvigil.agents SET status = $2 WHERE agent_id = $1', [agentId, JSON.stringify(status)])
    .catch(() => statusSavedAt.delete(agentId));
}
