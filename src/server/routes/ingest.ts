/**
 * POST /api/v1/ingest — agents push sealed batches here (role: agent).
 *
 * Order of work, cheapest refusal first: credential — bearer, or the client certificate on the agent port
 * (auth/guard.ts) — before the body is read → per-agent rate limit →
 * compressed size (fastify body limit) → decode (ingest/decode.ts: content type, gunzip with an output
 * cap, JSON, shape guard, validation) → target ids (ingest/targets.ts) → the group-commit writer. The
 * answer comes after the commit: 200 {status: accepted | duplicate}. A batch that can never succeed gets
 * 400/409/413/415 (the agent dead-letters it); a store that is down or a full queue gets 503 with
 * Retry-After (the agent retries later). An accepted batch is then handed to the findings engine, which
 * evaluates it after the answer.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { FindingsEngine } from '../../intelligence/engine.js';
import { defaultBatchLimits } from '../../protocol/batch.js';
import type { Registry } from '../../telemetry/metrics.js';
import type { AgentAuthenticator } from '../auth/agents.js';
import { agentGuard } from '../auth/guard.js';
import { encodeTable } from '../ingest/copy.js';
import { decodeBatch } from '../ingest/decode.js';
import { TargetResolver } from '../ingest/targets.js';
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
  /** Evaluates each accepted batch after its commit (not awaited: the answer does not wait for it). */
  engine?: FindingsEngine;
}

function retryAfter(reply: FastifyReply, seconds: number): void {
  reply.header('retry-after', String(seconds));
}

export const ingestRoutes: FastifyPluginAsync<IngestRouteOptions> = async (app, opts) => {
  const { limits, metrics } = opts;
  const phase = opts.registry.histogram(
    'pgvigil_ingest_phase_seconds',
    'Time per ingest phase (decode = gunzip + JSON + shape guard, validate, encode = target ids + COPY lines, write = queue + commit).',
  );
  const limiter = new RateLimiter(limits.agentRatePerSecond, limits.agentBurst);
  const targets = new TargetResolver(opts.pool);

  // Any content type reaches the handler as a Buffer, so unknown types get our 415 with the list.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxBodyBytes }, (_req, body, done) =>
    done(null, body),
  );

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
      const decoded = decodeBatch(
        {
          contentType: req.headers['content-type'],
          contentEncoding: req.headers['content-encoding'],
          // No body at all (no content type either) leaves fastify's body undefined.
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        },
        limits,
      );
      if (!decoded.ok) return refuse(decoded.reason, decoded.error);
      const { batch } = decoded;
      if (batch.agentId !== agent.agentId) {
        refuse(
          'agent-mismatch',
          new PgvigilError(
            'AGENT_MISMATCH',
            `batch of agent ${batch.agentId} sent with the ${agent.via === 'certificate' ? 'client certificate' : 'credential'} of agent ${agent.agentId}`,
          ),
        );
      }
      const t2 = performance.now();
      const ids = await targets.resolve(agent.serverId, batch);
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
          digest: decoded.digest,
          status: decoded.status,
          live,
        });
      } catch (err) {
        if (err instanceof PgvigilError && err.status === 503)
          retryAfter(reply, err.code === 'INGEST_OVERLOADED' ? 1 : 5);
        throw err;
      }
      if (outcome === 'accepted') void opts.engine?.onBatch(agent.serverId, batch, ids);
      const t4 = performance.now();
      phase.observe(decoded.seconds.decode, { phase: 'decode' });
      phase.observe(decoded.seconds.validate, { phase: 'validate' });
      phase.observe((t3 - t2) / 1000, { phase: 'encode' });
      phase.observe((t4 - t3) / 1000, { phase: 'write' });
      return { status: outcome, seq: batch.seq, rows: batch.rowCount, rejectedRows: batch.rejected };
    },
  );
};
