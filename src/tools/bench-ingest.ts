/**
 * `pgvigil bench ingest`: simulated agents push realistic batches (host + 20 tables + 50 statements ≈
 * 1,000 values) to a real server over HTTP, end to end, and the rows are verified in the store after.
 *
 * Self-contained by default: it starts its own embedded store and a `pgvigil server` child process (so
 * the load generator and the server do not share an event loop). With `--server URL --database-url URL`
 * it loads an existing deployment (agents are created directly in that store).
 *
 * It also times a plain COPY of the same rows on one connection — the ceiling for this machine — and
 * reads the server's own phase timings (decode, validate, encode, write) from its /metrics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { silentLogger } from '../log.js';
import { batchMediaType, validateBatch } from '../protocol/batch.js';
import { type ColumnSpec, type FamilySpec, families } from '../protocol/families/index.js';
import { ensureServer, localAgent } from '../server/auth/agents.js';
import { createApiToken } from '../server/auth/api-tokens.js';
import { addUser } from '../server/auth/users.js';
import { encodeTable } from '../server/ingest/copy.js';
import { freePort } from '../storage/cluster.js';
import { startEmbeddedStore } from '../storage/embedded.js';
import { migrate } from '../storage/migrate.js';
import { maintainPartitions } from '../storage/partitions.js';
import { familyRowCount, ledgerTotals } from '../storage/queries/ledger.sql.js';
import { upsertTargets } from '../storage/queries/targets.sql.js';
import { userIdByName } from '../storage/queries/users.sql.js';
import { handlePoolErrors, inTransaction } from '../storage/tx.js';
import { packageRoot } from '../version.js';

export interface BenchIngestOptions {
  agents: number;
  durationS: number;
  /** Offered pushes per second across all agents (open loop); closed loop when absent. */
  rate?: number;
  values: number;
  server?: string;
  databaseUrl?: string;
  json: boolean;
}

interface Shape {
  family: FamilySpec;
  rows: number;
}

/** The batch shape: host families as a 2-core host has them, then 20 tables and ~50 statements. */
export function batchShape(values: number): Shape[] {
  const host: Array<[string, number]> = [
    ['host_cpu', 3],
    ['host_memory', 1],
    ['host_load', 1],
    ['host_pressure', 3],
    ['host_disk', 2],
    ['host_filesystem', 3],
    ['host_network', 2],
  ];
  const shape: Shape[] = host
    .filter(([f]) => families[f])
    .map(([f, rows]) => ({ family: families[f]!, rows }));
  if (families.pg_database) shape.push({ family: families.pg_database, rows: 1 });
  if (families.pg_tables) shape.push({ family: families.pg_tables, rows: 20 });
  const valuesOf = (s: Shape) => s.rows * s.family.columns.filter((c) => !c.label).length;
  const used = shape.reduce((n, s) => n + valuesOf(s), 0);
  const stmt = families.pg_statements;
  if (stmt) {
    const perRow = stmt.columns.filter((c) => !c.label).length;
    shape.push({ family: stmt, rows: Math.max(1, Math.round((values - used) / perRow)) });
  }
  return shape;
}

function valueFor(c: ColumnSpec, row: number, seq: number): unknown {
  if (c.label) return c.type === 'text' ? `${c.name}_${row}` : c.type === 'bool' ? row % 2 === 0 : row + 1;
  switch (c.type) {
    case 'text':
      return `v${row % 7}`;
    case 'bool':
      return row % 2 === 0;
    case 'jsonb':
      return { n: row };
    case 'timestamptz':
      return Date.now() - 1000;
    case 'int4':
      return (row * 31 + seq) % 100_000;
    case 'int8':
      return row * 1_000_003 + seq * 17;
    default:
      return (row * 7 + seq) / 3;
  }
}

/** One batch as JSON text; ts increases per push so rows never collide on their keys. */
export function makeBatch(
  shape: Shape[],
  agentId: string,
  seq: number,
  ts: number,
): { body: string; values: number } {
  const fams: Record<string, { columns: string[]; rows: unknown[][] }> = {};
  let values = 0;
  for (const { family, rows } of shape) {
    const target = family.scope === 'target';
    const columns = ['ts', ...(target ? ['target'] : []), ...family.columns.map((c) => c.name)];
    const out: unknown[][] = [];
    for (let r = 0; r < rows; r++) {
      out.push([ts, ...(target ? ['bench-pg'] : []), ...family.columns.map((c) => valueFor(c, r, seq))]);
      values += family.columns.filter((c) => !c.label).length;
    }
    fams[family.name] = { columns, rows: out };
  }
  return { body: JSON.stringify({ v: 1, agentId, seq, sealedAt: ts, families: fams }), values };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A viewer API token for reading the server's /metrics (a bench user, made once per store). */
async function metricsToken(pool: pg.Pool): Promise<string> {
  const userId =
    (await userIdByName(pool, 'bench-metrics', true)) ??
    (await addUser(pool, { name: 'bench-metrics', role: 'viewer' })).userId;
  return (
    await createApiToken(pool, { userId, name: 'bench ingest', role: 'viewer', expiresInMs: 3_600_000 })
  ).token;
}

/** Waits until a server child answers /api/v1/ready (within `timeoutMs`), failing early if it exits. */
/**
 * A `pgvigil server` child process on a free loopback port over `databaseUrl` (its own event loop, as in
 * production), once it answers readiness.
 */
export async function startServerChild(
  databaseUrl: string,
  timeoutMs = 60_000,
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(packageRoot, 'bin', 'pgvigil.js'), 'server', '--port', String(port)],
    {
      env: { ...process.env, DATABASE_URL: databaseUrl, PGVIGIL_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child, timeoutMs);
  return { child, url };
}

export async function waitHealthy(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  for (let i = 0; i < timeoutMs / 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/api/v1/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('server did not become ready');
}

async function phaseTimings(url: string, token: string): Promise<Record<string, number>> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const out: Record<string, number> = {};
  for (const phase of ['decode', 'validate', 'encode', 'write']) {
    const sum = Number(
      new RegExp(`pgvigil_ingest_phase_seconds_sum\\{phase="${phase}"\\} ([0-9.e+-]+)`).exec(text)?.[1],
    );
    const count = Number(
      new RegExp(`pgvigil_ingest_phase_seconds_count\\{phase="${phase}"\\} ([0-9]+)`).exec(text)?.[1],
    );
    out[phase] = count > 0 ? (sum / count) * 1000 : Number.NaN;
  }
  const groups =
    /pgvigil_ingest_group_batches_sum ([0-9.e+]+)\npgvigil_ingest_group_batches_count ([0-9]+)/.exec(text);
  out.avgGroupBatches = groups ? Number(groups[1]) / Number(groups[2]) : Number.NaN;
  const w = /pgvigil_ingest_write_seconds_sum ([0-9.e+-]+)\npgvigil_ingest_write_seconds_count ([0-9]+)/.exec(
    text,
  );
  out.commitMsPerGroup = w ? (Number(w[1]) / Number(w[2])) * 1000 : Number.NaN;
  // The findings engine's share: evaluation per batch (off the answer's path, on the same event loop) and
  // how many evaluations went to the store.
  const e =
    /pgvigil_findings_evaluation_seconds_sum\{mode="ingest"\} ([0-9.e+-]+)\npgvigil_findings_evaluation_seconds_count\{mode="ingest"\} ([0-9]+)/.exec(
      text,
    );
  out.findingsEvalMsPerBatch = e ? (Number(e[1]) / Number(e[2])) * 1000 : Number.NaN;
  for (const outcome of ['written', 'unchanged']) {
    const m = new RegExp(`pgvigil_findings_applications_total\\{outcome="${outcome}"\\} ([0-9]+)`).exec(text);
    out[`findings${outcome === 'written' ? 'Written' : 'Unchanged'}`] = m ? Number(m[1]) : 0;
  }
  return out;
}

/** Times COPY of `pushes` batches' rows on one connection, in one transaction per batch-sized chunk. */
async function copyCeiling(url: string, shape: Shape[], serverId: number, pushes: number): Promise<number> {
  // One connection, so every chunk's COPY runs on the same one.
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  handlePoolErrors(pool, (err) => process.stderr.write(`bench: store connection lost: ${err.message}\n`));
  try {
    const agent = '00000000-0000-4000-8000-000000000000';
    const base = Date.now() - 3_600_000;
    const v = validateBatch(JSON.parse(makeBatch(shape, agent, 1, base).body));
    if (!v.ok) throw new Error(v.message);
    const ids = await upsertTargets(pool, serverId, ['bench-pg']);
    const started = performance.now();
    const perTx = 50;
    for (let done = 0; done < pushes; done += perTx) {
      await inTransaction(pool, async (client) => {
        for (const t of v.batch.tables) {
          let lines = '';
          let columns: string[] = [];
          for (let k = 0; k < Math.min(perTx, pushes - done); k++) {
            const ts = base + done + k;
            for (const row of t.rows) row[t.tsIndex] = ts;
            const chunk = encodeTable(t, serverId, ids);
            columns = chunk.columns;
            lines += chunk.lines;
          }
          const cols = columns.map((c) => `"${c}"`).join(', ');
          const stream = client.query(copyFrom(`COPY pgvigil."${t.table}" (${cols}) FROM STDIN`));
          await new Promise<void>((resolve, reject) => {
            stream.on('error', reject);
            stream.on('finish', resolve);
            stream.end(lines);
          });
        }
      });
    }
    return (performance.now() - started) / 1000;
  } finally {
    await pool.end();
  }
}

export async function benchIngest(opts: BenchIngestOptions): Promise<Record<string, unknown>> {
  const log = silentLogger();
  const cleanup: Array<() => Promise<void>> = [];
  try {
    let databaseUrl = opts.databaseUrl;
    if (!databaseUrl) {
      const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-'));
      chmodSync(dir, 0o755);
      const store = await startEmbeddedStore(join(dir, 'data'), log);
      cleanup.push(async () => {
        await store.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      databaseUrl = store.url;
    }
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    // A connection losing its server (the store stopped under the benchmark) must not end the process with
    // an unhandled 'error' event: the query that next needs the store reports it.
    handlePoolErrors(pool, (err, idle) => {
      if (idle) process.stderr.write(`bench: store connection lost: ${err.message}\n`);
    });
    cleanup.push(() => pool.end());
    await migrate(pool, log);
    await maintainPartitions(pool, { log });

    let serverUrl = opts.server;
    if (!serverUrl) {
      const { child, url } = await startServerChild(databaseUrl, 30_000);
      cleanup.push(async () => {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      });
      serverUrl = url;
    }

    const shape = batchShape(opts.values);
    const agents = [];
    for (let i = 0; i < opts.agents; i++) agents.push(await localAgent(pool, `bench-host-${i}`, undefined));
    const valuesPerBatch = makeBatch(shape, agents[0]!.agentId, 1, Date.now()).values;

    const latencies: number[] = [];
    let errors = 0;
    const errorKinds = new Map<string, number>();
    let accepted = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + opts.durationS * 1000;
    const state = agents.map((a) => ({ ...a, seq: 0, lastTs: 0 }));

    const pushOnce = async (a: (typeof state)[number], scheduledAt: number): Promise<void> => {
      a.seq++;
      a.lastTs = Math.max(Date.now(), a.lastTs + 1);
      const body = gzipSync(makeBatch(shape, a.agentId, a.seq, a.lastTs).body, { level: 1 });
      try {
        const res = await fetch(`${serverUrl}/api/v1/ingest`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${a.credential}`,
            'content-type': batchMediaType,
            'content-encoding': 'gzip',
          },
          body,
        });
        await res.arrayBuffer();
        if (res.status === 200) {
          accepted++;
          latencies.push(performance.now() - scheduledAt);
        } else {
          errors++;
          errorKinds.set(String(res.status), (errorKinds.get(String(res.status)) ?? 0) + 1);
        }
      } catch (err) {
        errors++;
        const k = (err as Error).message;
        errorKinds.set(k, (errorKinds.get(k) ?? 0) + 1);
      }
    };

    if (opts.rate === undefined) {
      await Promise.all(
        state.map(async (a) => {
          while (performance.now() < end) await pushOnce(a, performance.now());
        }),
      );
    } else {
      const inflight = new Set<Promise<void>>();
      const interval = 1000 / opts.rate;
      let k = 0;
      for (let next = start; next < end; next += interval) {
        const wait = next - performance.now();
        if (wait > 1) await sleep(wait);
        const p = pushOnce(state[k++ % state.length]!, next).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.all(inflight);
    }
    const elapsedS = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const phases = await phaseTimings(serverUrl, await metricsToken(pool));

    // Verify: every acknowledged batch is in the ledger exactly once and its rows are in the tables.
    const ids = state.map((a) => a.agentId);
    const ledger = await ledgerTotals(pool, ids);
    const serverIds = state.map((a) => a.serverId);
    let stored = 0;
    for (const { family } of shape) {
      stored += await familyRowCount(pool, family, serverIds);
    }
    const rowsPerBatch = shape.reduce((n, s) => n + s.rows, 0);

    const ceilingS = await copyCeiling(
      databaseUrl,
      shape,
      await ensureServer(pool, 'bench-copy-ceiling'),
      accepted,
    );
    latencies.sort((x, y) => x - y);
    const result = {
      agents: opts.agents,
      durationS: Number(elapsedS.toFixed(1)),
      offeredRate: opts.rate ?? null,
      valuesPerBatch,
      rowsPerBatch,
      pushes: accepted,
      pushesPerS: Number((accepted / elapsedS).toFixed(1)),
      valuesPerS: Math.round((accepted * valuesPerBatch) / elapsedS),
      ackLatencyMs: {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p95: Number(percentile(latencies, 95).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
      },
      errors,
      errorKinds: Object.fromEntries(errorKinds),
      verified: {
        batchesInLedger: ledger.batches,
        rowsExpected: accepted * rowsPerBatch,
        rowsStored: stored,
        ok: ledger.batches === accepted && stored === accepted * rowsPerBatch,
      },
      serverPhaseMsPerBatch: Object.fromEntries(
        Object.entries(phases).map(([k, v]) => [k, Number(v.toFixed(3))]),
      ),
      copyCeiling: {
        seconds: Number(ceilingS.toFixed(2)),
        pushesPerS: Number((accepted / ceilingS).toFixed(1)),
        ratio: Number((accepted / elapsedS / (accepted / ceilingS)).toFixed(3)),
      },
      loadGeneratorCpuS: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)),
    };
    return result;
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  }
}

export function formatBenchIngest(r: Record<string, unknown>): string {
  const lat = r.ackLatencyMs as Record<string, number>;
  const ver = r.verified as Record<string, unknown>;
  const ceil = r.copyCeiling as Record<string, number>;
  const ph = r.serverPhaseMsPerBatch as Record<string, number>;
  return [
    `agents ${r.agents}, ${r.durationS} s, ${r.valuesPerBatch} values (${r.rowsPerBatch} rows) per batch${r.offeredRate ? `, offered ${r.offeredRate} pushes/s` : ', closed loop'}`,
    `pushes/s        ${r.pushesPerS}   (${r.pushes} acknowledged, ${r.errors} errors ${JSON.stringify(r.errorKinds)})`,
    `values/s        ${r.valuesPerS}`,
    `ack latency ms  p50 ${lat.p50}  p95 ${lat.p95}  p99 ${lat.p99}`,
    `verified        ${ver.ok ? 'OK' : 'MISMATCH'}: ${ver.batchesInLedger} batches in ledger, ${ver.rowsStored}/${ver.rowsExpected} rows`,
    `server ms/batch decode ${ph.decode}  validate ${ph.validate}  encode ${ph.encode}  write(queue+commit) ${ph.write}; ${Number(ph.avgGroupBatches).toFixed(1)} batches/group, ${Number(ph.commitMsPerGroup).toFixed(1)} ms/group`,
    `findings        ${Number(ph.findingsEvalMsPerBatch).toFixed(3)} ms of evaluation per batch; ${ph.findingsWritten} evaluations written, ${ph.findingsUnchanged} unchanged (store skipped)`,
    `COPY ceiling    ${ceil.pushesPerS} pushes/s on one connection (${ceil.seconds} s); end-to-end / ceiling = ${ceil.ratio}`,
    `load generator  ${r.loadGeneratorCpuS} CPU s (same machine)`,
  ].join('\n');
}
