/**
 * A real server on loopback for findings tests: enroll agents, push batches of family rows (as the agent's
 * batcher builds them), read findings through the API, run the findings job.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import type { FamilyRows } from '../../src/agent/collectors/types.js';
import { batchMediaType } from '../../src/protocol/batch.js';
import { families, wireColumns } from '../../src/protocol/families/index.js';
import { type LogEntry, logEntryColumns } from '../../src/protocol/logs.js';
import { type App, buildServerApp } from '../../src/server/app.js';
import { createEnrollToken } from '../../src/server/auth/agents.js';
import { findingsJob } from '../../src/server/jobs/findings.js';
import type { FindingRow } from '../../src/storage/queries/findings.sql.js';
import { createTestStore, quietLog, type TestStore } from './db.js';
import { roleHeaders } from './users.js';

export interface TestAgent {
  agentId: string;
  credential: string;
  serverId: number;
  seq: number;
}

export interface FindingsServer {
  base: string;
  server: App;
  ts: TestStore;
  admin: { authorization: string };
  enroll(hostname: string): Promise<TestAgent>;
  /** Pushes one batch; `target` names the PostgreSQL target of target families. */
  push(
    agent: TestAgent,
    rows: FamilyRows[],
    opts?: { target?: string; logs?: LogEntry[]; status?: Record<string, unknown>; sealedAt?: number },
  ): Promise<void>;
  /** Findings through GET /api/v1/findings (query string without the leading ?). */
  findings(query?: string): Promise<FindingRow[]>;
  /** Waits until a finding matching `pick` is listed; fails after `timeoutMs`. */
  waitFor(query: string, pick: (f: FindingRow) => boolean, timeoutMs?: number): Promise<FindingRow>;
  /** Waits for the ingest evaluations queued so far. */
  settle(): Promise<void>;
  /** Runs the findings job once (job checks, security events, pruning), as the server does. */
  runJob(now?: Date): Promise<void>;
  close(): Promise<void>;
}

export async function startFindingsServer(prefix: string): Promise<FindingsServer> {
  const ts = await createTestStore(prefix);
  const server = await buildServerApp({
    store: ts.store,
    log: quietLog,
    latestMigration: ts.latest,
    credentialCacheMs: 0,
    enrollLimit: { perSecond: 100, burst: 100 },
  });
  const base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const admin = await roleHeaders(ts.store.pool, 'admin');
  const fs: FindingsServer = {
    base,
    server,
    ts,
    admin,
    async enroll(hostname) {
      const { token } = await createEnrollToken(ts.store.pool, {});
      const res = await fetch(`${base}/api/v1/agents/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, hostname, os: 'linux', agentVersion: 'test' }),
      });
      assert.equal(res.status, 201, await res.clone().text());
      return { ...((await res.json()) as Omit<TestAgent, 'seq'>), seq: 0 };
    },
    async push(agent, rows, opts = {}) {
      const tables: Record<string, { columns: string[]; rows: unknown[][] }> = {};
      for (const fr of rows) {
        const spec = families[fr.family];
        assert.ok(spec, `unknown family ${fr.family}`);
        tables[fr.family] ??= { columns: wireColumns(spec), rows: [] };
        const t = tables[fr.family]!;
        for (const row of fr.rows) {
          const out: unknown[] = [fr.ts];
          if (spec.scope === 'target') out.push(opts.target ?? 'local');
          for (const c of spec.columns) out.push(row[c.name] ?? null);
          t.rows.push(out);
        }
      }
      agent.seq++;
      const body = {
        v: 1,
        agentId: agent.agentId,
        seq: agent.seq,
        sealedAt: opts.sealedAt ?? Date.now(),
        families: tables,
        ...(opts.status ? { status: opts.status } : {}),
        ...(opts.logs?.length
          ? {
              logs: {
                columns: logEntryColumns.map((c) => c.name),
                rows: opts.logs.map((e) => logEntryColumns.map((c) => e[c.name as keyof LogEntry] ?? null)),
              },
            }
          : {}),
      };
      const res = await fetch(`${base}/api/v1/ingest`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${agent.credential}`,
          'content-type': batchMediaType,
          'content-encoding': 'gzip',
        },
        body: gzipSync(JSON.stringify(body)),
      });
      assert.equal(res.status, 200, await res.clone().text());
    },
    async findings(query = '') {
      const res = await fetch(`${base}/api/v1/findings?${query}`, { headers: admin });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { findings: FindingRow[] }).findings;
    },
    async waitFor(query, pick, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let last: FindingRow[] = [];
      while (Date.now() < deadline) {
        await server.engine.idle();
        last = await fs.findings(query);
        const hit = last.find(pick);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(
        `no matching finding after ${timeoutMs} ms; listed: ${JSON.stringify(last.map((f) => [f.check, f.object, f.state, f.severity]))}`,
      );
    },
    settle: () => server.engine.idle(),
    async runJob(now = new Date()) {
      await findingsJob(server.engine, 60_000, { everyCheck: true }).run({
        pool: ts.store.pool,
        log: quietLog,
        now,
      });
    },
    async close() {
      await server.app.close();
      await ts.close();
    },
  };
  return fs;
}
