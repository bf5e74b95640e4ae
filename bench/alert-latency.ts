/**
 * Alert latency: from the push of a batch that crosses a threshold to the arrival of the signed webhook at
 * a local receiver, end to end through a real `pgvigil server` child process (its own event loop, as in
 * production) on a real embedded store.
 *
 * Each injection pushes a batch whose PostgreSQL target (a new one each time) is down (`pg.down`,
 * evaluated on ingest) and waits for the `fired` webhook, then pushes a healthy batch and waits for the
 * `resolved` one (pg.down clears after one good evaluation). Reported: p50, p95 and max of both,
 * and the server's own delivery histogram.
 *
 * Run: npm run build && node dist/bench/alert-latency.js [--injections 50]
 */
import type { ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { silentLogger } from '../src/log.js';
import { batchMediaType } from '../src/protocol/batch.js';
import { localAgent } from '../src/server/auth/agents.js';
import { createApiToken } from '../src/server/auth/api-tokens.js';
import { addUser } from '../src/server/auth/users.js';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { maintainPartitions } from '../src/storage/partitions.js';
import { startServerChild } from '../src/tools/bench-ingest.js';
import { arg } from './args.js';

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

interface Arrival {
  event: string;
  check: string;
  at: number;
}

async function receiver(
  secret: string,
): Promise<{ server: Server; url: string; arrivals: Arrival[]; bad: number }> {
  const arrivals: Arrival[] = [];
  const state = { bad: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.timeOrigin + performance.now();
      const body = Buffer.concat(chunks);
      const ts = String(req.headers['x-pgvigil-timestamp'] ?? '');
      const sig = String(req.headers['x-pgvigil-signature'] ?? '');
      const want = `sha256=${createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex')}`;
      if (sig !== want) state.bad++;
      const e = JSON.parse(body.toString('utf8')) as { event: string; finding: { check: string } };
      arrivals.push({ event: e.event, check: e.finding.check, at });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    get bad() {
      return state.bad;
    },
  };
}

async function main(): Promise<void> {
  const injections = Number(arg('injections', '50'));
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-alert-'));
  chmodSync(dir, 0o755);
  const log = silentLogger();
  const store = await startEmbeddedStore(join(dir, 'data'), log);
  const pool = new pg.Pool({ connectionString: store.url, max: 2 });
  pool.on('error', () => {});
  let child: ChildProcess | undefined;
  const secret = 'bench-secret-0123456789';
  const rx = await receiver(secret);
  try {
    await migrate(pool, log);
    await maintainPartitions(pool, { log });
    const { userId } = await addUser(pool, { name: `bench-${Date.now()}`, role: 'admin' });
    const { token } = await createApiToken(pool, { userId, name: 'bench', role: 'admin' });
    const agent = await localAgent(pool, 'bench-alert-host', undefined);
    const server = await startServerChild(store.url);
    child = server.child;
    const url = server.url;
    const admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const ch = await fetch(`${url}/api/v1/channels`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        name: 'bench',
        type: 'webhook',
        config: { url: rx.url, secret },
        routing: { minSeverity: 'info' },
        allowPrivate: true,
      }),
    });
    if (!ch.ok) throw new Error(`channel: ${ch.status} ${await ch.text()}`);

    let seq = 0;
    const push = async (target: string, up: boolean) => {
      seq++;
      const ts = Date.now();
      const body = {
        v: 1,
        agentId: agent.agentId,
        seq,
        sealedAt: ts,
        families: {
          pg_instance: {
            columns: ['ts', 'target', 'up', 'max_connections', 'backends', 'error'],
            rows: [[ts, target, up, up ? 100 : null, up ? 5 : null, up ? null : 'connection refused']],
          },
        },
      };
      const res = await fetch(`${url}/api/v1/ingest`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${agent.credential}`,
          'content-type': batchMediaType,
          'content-encoding': 'gzip',
        },
        body: gzipSync(JSON.stringify(body)),
      });
      if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
    };
    const waitFor = async (event: string, from: number): Promise<number> => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const a = rx.arrivals.find((x) => x.event === event && x.check === 'pg.down' && x.at >= from);
        if (a) return a.at - from;
        await new Promise((r) => setTimeout(r, 2));
      }
      throw new Error(`no ${event} webhook within 30 s`);
    };
    const fired: number[] = [];
    const resolved: number[] = [];
    for (let i = 0; i < injections; i++) {
      // A target of its own per injection: each firing is a new finding (the same finding firing again
      // and again within the hour would be damped as flapping, by design).
      const target = `db-${i}`;
      let t0 = performance.timeOrigin + performance.now();
      await push(target, false);
      fired.push(await waitFor('fired', t0));
      t0 = performance.timeOrigin + performance.now();
      await push(target, true);
      resolved.push(await waitFor('resolved', t0));
    }
    const metrics = await (await fetch(`${url}/metrics`, { headers: admin })).text();
    const line = (name: string) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(name))
        .join('\n');
    const f = (xs: number[]) =>
      `p50 ${quantile(xs, 0.5).toFixed(1)} ms, p95 ${quantile(xs, 0.95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
    console.log(`alert latency over ${injections} injections (push start → signed webhook received):`);
    console.log(`  fired:    ${f(fired)}`);
    console.log(`  resolved: ${f(resolved)}`);
    console.log(`  bad signatures: ${rx.bad}`);
    console.log(line('pgvigil_notification_delivery_seconds_sum'));
    console.log(line('pgvigil_notification_delivery_seconds_count'));
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rx.server.close();
    await pool.end();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
