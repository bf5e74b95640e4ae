/**
 * The embedded store under `pgvigil up` going away while agents ship, with real processes: the postmaster
 * killed with SIGKILL (restarted within 10 s; agents get 503 with Retry-After and retry; nothing lost or
 * doubled), frozen with SIGSTOP (health answers within 1 s and says so; requests get 503 at once, no hang),
 * and its connections terminated from another session (the server keeps running). Timing matters here, so
 * scripts/run-tests.mjs runs this file on its own.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadIdentity } from '../src/agent/identity.js';
import { Spool } from '../src/agent/spool/spool.js';
import { families } from '../src/protocol/families/index.js';
import { freePort } from '../src/storage/cluster.js';
import { type RunningCli, runCli, startCli } from './helpers/cli.js';
import { quietLog, testPgLabel } from './helpers/db.js';
import { until } from './helpers/wait.js';

interface Health {
  status: string;
  store: { reachable: boolean; error?: string; since: string; checkedAt: string };
}

interface Timed {
  status: number;
  ms: number;
  headers: Headers;
  body: unknown;
}

/** One request with a hard deadline: a hang is a failure with a clear message, never a stuck test. */
async function timedFetch(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, ms: performance.now() - t0, headers: res.headers, body };
}

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function storeUrl(dataDir: string): string {
  const s = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
    port: number;
    password: string;
  };
  return `postgres://pgvigil:${encodeURIComponent(s.password)}@127.0.0.1:${s.port}/pgvigil`;
}

/** Runs `fn` on a fresh connection to the store (superuser), closed afterwards. */
async function withStore<T>(dataDir: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: storeUrl(dataDir), connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Pino lines of a process's stderr saying a push failed, with their HTTP status. */
function pushFailures(stderr: string): number[] {
  const out: number[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.includes('push failed')) continue;
    try {
      const status = (JSON.parse(line) as { status?: number }).status;
      if (typeof status === 'number') out.push(status);
    } catch {
      // not a log line
    }
  }
  return out;
}

/**
 * Runs the second agent as another host: two agents on one host name report the same server, and their
 * host rows of one instant collide. A UTS namespace (util-linux `unshare`) gives it a host name of its own.
 */
const otherHost = [
  'unshare',
  ...(process.getuid?.() === 0 ? [] : ['--user', '--map-root-user']),
  '--uts',
  'sh',
  '-c',
  'hostname pgvigil-second-host && exec "$@"',
  'sh',
];
const unshareMissing = !existsSync('/usr/bin/unshare') && !existsSync('/bin/unshare');
if (unshareMissing && process.env.CI === 'true') throw new Error('CI: unshare (util-linux) is required');

describe('the embedded store under pgvigil up, supervised', {
  skip:
    (testPgLabel === 'debian-15' && 'embedded store only') ||
    (unshareMissing &&
      'SKIPPED: needs unshare (apt-get install util-linux) to run a second agent as another host'),
}, () => {
  const root = mkdtempSync(join(tmpdir(), 'pgvigil-supervise-'));
  chmodSync(root, 0o755);
  const dataDir = join(root, 'data');
  const agentDir = join(root, 'agent');
  const logFile = join(root, 'app.log');
  const marker = 'supervised';
  let up: RunningCli | undefined;
  let agent: RunningCli | undefined;
  let base = '';
  let auth: Record<string, string> = {};
  let written = 0;
  let stopped: number | undefined;

  const agentArgs = (token: string, push = '500ms') => [
    'agent',
    '--server',
    base,
    '--enroll-token',
    token,
    '--state-dir',
    agentDir,
    '--interval',
    '500ms',
    '--push-interval',
    push,
    '--log-file',
    `syslog:${logFile}`,
  ];
  let token = '';

  /** Appends `n` numbered lines to the file the second agent tails. */
  const writeLines = (n: number) => {
    let text = '';
    // Stamped now: a line older than the raw retention would be refused (and counted as a gap).
    const now = new Date().toISOString();
    for (let i = 0; i < n; i++)
      text += `${now} host app[1]: ${marker}-${String(++written).padStart(6, '0')}\n`;
    appendFileSync(logFile, text);
  };

  before(async () => {
    writeFileSync(logFile, '');
    up = startCli([
      'up',
      '--data-dir',
      dataDir,
      '--port',
      String(await freePort()),
      '--interval',
      '500ms',
      '--push-interval',
      '500ms',
    ]);
    base = (await up.waitFor(/is up: (http:\/\/\S+)/, 60_000))[1]!;
    const password = (await up.waitFor(/with password (\S+)/, 10_000))[1]!;
    await up.waitFor(/local agent \S+ is watching/, 60_000);
    const login = await timedFetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'admin', password }),
    });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    auth = { authorization: `Bearer ${(login.body as { accessToken: string }).accessToken}` };
    const created = await runCli(['token', 'create', '--enroll', '--uses', '1', '--data-dir', dataDir]);
    token = created.stdout.trim();
    assert.match(token, /^pgv_enroll_/, created.stderr);
    agent = startCli(agentArgs(token), {}, otherHost);
    await agent.waitFor(/shipping to/, 60_000);
    // A new file is followed from its end once the agent has looked at it: count only lines written after
    // a first one has been seen stored.
    await until(
      async () => {
        appendFileSync(logFile, `${new Date().toISOString()} host app[1]: warm-up\n`);
        await sleep(500);
        return withStore(dataDir, async (c) => {
          const { rows } = await c.query(
            "SELECT count(*)::int AS n FROM pgvigil.log_entries WHERE message LIKE '%warm-up%'",
          );
          return rows[0].n > 0;
        });
      },
      30_000,
      'the second agent shipping its log file',
    );
    writeLines(50);
  });

  after(async () => {
    if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
    await agent?.stop('SIGKILL');
    await up?.stop('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  });

  test('terminating_the_pools_connections_from_another_session_does_not_end_the_server', async () => {
    // Some traffic first, so the pool holds connections.
    for (let i = 0; i < 5; i++)
      assert.equal((await timedFetch(`${base}/api/v1/servers`, { headers: auth })).status, 200);
    const terminated = await withStore(dataDir, async (c) => {
      const { rows } = await c.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE application_name IN ('pgvigil-server', 'pgvigil-store-watch') AND pid <> pg_backend_pid()`,
      );
      return rows[0]!.n;
    });
    assert.ok(terminated > 0, 'the server had store connections to terminate');
    writeLines(50);
    // Every connection was cut under its feet: the next requests may find one dead, then it is replaced.
    let last: Timed | undefined;
    await until(
      async () => {
        last = await timedFetch(`${base}/api/v1/servers`, { headers: auth });
        return last.status === 200;
      },
      10_000,
      'an authenticated request answering 200 again',
    );
    assert.equal(
      up!.child.exitCode,
      null,
      `the server still runs; stderr: ${up!.output().stderr.slice(-2000)}`,
    );
    assert.doesNotMatch(up!.output().stderr, /Unhandled 'error' event|uncaught/i);
  });

  test('kill_9_of_the_postmaster_restarts_it_within_10_s_and_agents_lose_and_double_nothing', {
    timeout: 300_000,
  }, async (t) => {
    // The normal case: a store whose start-up work — the partitions of the whole retention window, made in
    // the background at a first start — a checkpoint has written out. (Within a minute of a first start,
    // crash recovery also syncs those thousands of new files, and takes longer.)
    await until(
      () =>
        withStore(dataDir, async (c) => {
          const { rows } = await c.query(
            `SELECT (SELECT checkpoint_time FROM pg_control_checkpoint()) >
                    (SELECT max(last_finished_at) FROM pgvigil.job_runs WHERE job = 'partitions') AS ok`,
          );
          return rows[0].ok === true;
        }),
      120_000,
      'a checkpoint after the start-up partition pass',
    );
    const pid = postmasterPid(dataDir);
    writeLines(50);
    await sleep(1000);
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');

    // While it is away: 503 with Retry-After for an API client (it may be back before we ask: then 200).
    const during = await timedFetch(`${base}/api/v1/servers`, { headers: auth }, 5000);
    if (during.status !== 200) {
      assert.equal(during.status, 503, JSON.stringify(during.body));
      assert.equal((during.body as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE');
      assert.ok(Number(during.headers.get('retry-after')) > 0, 'with Retry-After');
    }
    writeLines(50);

    // Back: a new postmaster accepts connections and the server says the store is reachable.
    let backMs = 0;
    await until(
      async () => {
        const h = await timedFetch(`${base}/api/v1/health`, {}, 2000).catch(() => undefined);
        if (!h || !(h.body as Health).store.reachable) return false;
        backMs = performance.now() - killedAt;
        return true;
      },
      30_000,
      'the store reported reachable again',
    );
    assert.notEqual(postmasterPid(dataDir), pid, 'a new postmaster runs');
    t.diagnostic(`store reported reachable again ${Math.round(backMs)} ms after kill -9 of the postmaster`);
    assert.ok(backMs < 10_000, `store back ${Math.round(backMs)} ms after kill -9`);
    const again = await timedFetch(`${base}/api/v1/servers`, { headers: auth });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    writeLines(50);

    // The agents met 503s (or nothing, when they had nothing to push in the outage), never a 500.
    await sleep(3000);
    const failures = [...pushFailures(up!.output().stderr), ...pushFailures(agent!.output().stderr)];
    assert.ok(failures.includes(503), `the agents were told 503 and retried: ${failures.join(', ')}`);
    assert.ok(!failures.some((s) => s >= 500 && s !== 503), `push failures: ${failures.join(', ')}`);

    // The second agent: every batch it sealed is in the ledger exactly once.
    const agentStderr = agent!.output().stderr;
    await agent!.stop('SIGTERM');
    agent = undefined;
    const identity = await loadIdentity(agentDir);
    assert.ok(identity, 'the second agent enrolled');
    const spool = await Spool.open({ dir: join(agentDir, 'spool'), log: quietLog });
    const lastSealed = spool.nextSeq() - 1;
    const droppedBy = spool.stats().dropped;
    const dropped = Object.values(droppedBy).reduce((a, b) => a + b, 0);
    await spool.close();
    assert.equal(
      dropped,
      0,
      `the spool dropped nothing: ${JSON.stringify(droppedBy)}; agent log: ${agentStderr.slice(-3000)}`,
    );
    // Started again, it drains its backlog and ships what it had read but not sealed when stopped.
    agent = startCli(agentArgs(token), {}, otherHost);
    const storedLines = () =>
      withStore(dataDir, async (c) => {
        const { rows } = await c.query(
          `SELECT count(*)::int AS n, count(DISTINCT message)::int AS distinct_n FROM pgvigil.log_entries
            WHERE message LIKE $1`,
          [`%${marker}-%`],
        );
        return rows[0] as { n: number; distinct_n: number };
      });
    const sealedSeqs = async () =>
      withStore(dataDir, async (c) => {
        const { rows } = await c.query(
          `SELECT count(*)::int AS n, coalesce(min(seq), 0)::int AS lo, coalesce(max(seq), 0)::int AS hi
             FROM pgvigil.ingest_ledger WHERE agent_id = $1`,
          [identity!.agentId],
        );
        return rows[0] as { n: number; lo: number; hi: number };
      });
    let lines = { n: 0, distinct_n: 0 };
    await until(
      async () => {
        lines = await storedLines();
        return lines.n >= written && (await sealedSeqs()).hi >= lastSealed;
      },
      60_000,
      `the ${written} lines and the ${lastSealed} batches sealed before the stop in the store`,
    ).catch(async (err: Error) => {
      const present = await withStore(dataDir, async (c) => {
        const { rows } = await c.query(
          `SELECT substring(message from '${marker}-([0-9]+)')::int AS n, ts, source FROM pgvigil.log_entries WHERE message LIKE $1 ORDER BY 1`,
          [`%${marker}-%`],
        );
        return rows as Array<{ n: number; ts: Date; source: string }>;
      });
      const have = new Set(present.map((r) => r.n));
      const missing = [];
      for (let i = 1; i <= written; i++) if (!have.has(i)) missing.push(i);
      throw new Error(
        `${err.message}: ${JSON.stringify(lines)}; missing ${missing[0]}..${missing.at(-1)} (${missing.length}); first row ${JSON.stringify(present[0])}; ledger ${JSON.stringify(await sealedSeqs())}; agent log: ${agent?.output().stderr.slice(-3000)}`,
      );
    });
    await agent.stop('SIGTERM');
    agent = undefined;
    assert.deepEqual(
      lines,
      { n: written, distinct_n: written },
      `${written} lines written, each stored once`,
    );
    const ledger = await sealedSeqs();
    assert.deepEqual(ledger, { n: ledger.hi, lo: 1, hi: ledger.hi }, 'every sealed seq once, none missing');

    await withStore(dataDir, async (c) => {
      // The built-in agent: its seqs are contiguous from 1 (none missing in the middle).
      const local = await c.query(
        `SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi FROM pgvigil.ingest_ledger
          WHERE agent_id <> $1`,
        [identity!.agentId],
      );
      const l = local.rows[0];
      assert.ok(l.n > 5, `the built-in agent shipped ${l.n} batches`);
      assert.deepEqual(l, { n: l.hi, lo: 1, hi: l.hi }, 'the built-in agent: every seq once');

      // No row doubled: in one snapshot, the rows stored equal what the ledger acknowledged.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const sums = await c.query('SELECT sum(row_count)::bigint AS rows FROM pgvigil.ingest_ledger');
      let stored = 0;
      for (const name of [...Object.keys(families), 'log_entries']) {
        const { rows } = await c.query(`SELECT count(*)::int AS n FROM pgvigil."${name}"`);
        stored += rows[0].n;
      }
      await c.query('COMMIT');
      assert.equal(stored, Number(sums.rows[0].rows), 'rows stored equal the rows acknowledged');
      const gaps = await c.query(
        "SELECT count(*)::int AS n FROM pgvigil.gaps WHERE reason NOT LIKE 'rows-%'",
      );
      assert.equal(gaps.rows[0].n, 0, 'no batch reported lost');
    });
  });

  test('a_frozen_store_leaves_health_answering_within_1_s_and_requests_get_503_not_a_hang', {
    timeout: 120_000,
  }, async (t) => {
    const pid = postmasterPid(dataDir);
    process.kill(pid, 'SIGSTOP');
    const frozenAt = performance.now();
    stopped = pid;
    try {
      // Health answers within 1 s every time, and reports the store unreachable within a few seconds.
      let health: Health | undefined;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const h = await timedFetch(`${base}/api/v1/health`, {}, 3000);
        assert.equal(h.status, 200);
        assert.ok(h.ms < 1000, `health answered in ${Math.round(h.ms)} ms`);
        health = h.body as Health;
        if (!health.store.reachable) break;
        await sleep(200);
      }
      assert.equal(health?.store.reachable, false, 'the frozen store reported unreachable');
      t.diagnostic(`frozen store reported unreachable after ${Math.round(performance.now() - frozenAt)} ms`);
      assert.equal(health?.status, 'degraded');
      assert.ok(health?.store.error, 'with the reason');

      const ready = await timedFetch(`${base}/api/v1/ready`, {}, 3000);
      assert.equal(ready.status, 503);
      assert.ok(ready.ms < 1000, `ready answered in ${Math.round(ready.ms)} ms`);

      const api = await timedFetch(`${base}/api/v1/servers`, { headers: auth }, 10_000);
      assert.equal(api.status, 503, JSON.stringify(api.body));
      assert.equal((api.body as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE');
      assert.ok(Number(api.headers.get('retry-after')) > 0, 'with Retry-After');
      assert.ok(api.ms < 2000, `the API answered in ${Math.round(api.ms)} ms`);
      t.diagnostic(`while frozen: ready in ${Math.round(ready.ms)} ms, API 503 in ${Math.round(api.ms)} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
      stopped = undefined;
    }
    await until(
      async () => {
        const h = await timedFetch(`${base}/api/v1/health`, {}, 2000);
        const s = await timedFetch(`${base}/api/v1/servers`, { headers: auth }, 5000);
        return (h.body as Health).status === 'ok' && s.status === 200;
      },
      20_000,
      'health ok and the API answering after SIGCONT',
    );
    assert.equal(up!.child.exitCode, null, 'the server still runs');
  });
});

describe('an embedded store that cannot come back', {
  skip: testPgLabel === 'debian-15' && 'embedded store only',
}, () => {
  test('ends_pgvigil_up_with_one_clear_message_and_a_non_zero_code', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'pgvigil-supervise-fatal-'));
    chmodSync(root, 0o755);
    const dataDir = join(root, 'data');
    const up = startCli(['up', '--data-dir', dataDir, '--port', String(await freePort())]);
    try {
      await up.waitFor(/local agent \S+ is watching/, 60_000);
      const pid = postmasterPid(dataDir);
      // PostgreSQL refuses a data directory others may read: every restart attempt fails.
      chmodSync(join(dataDir, 'postgres'), 0o000);
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 60_000;
      while (up.child.exitCode === null && Date.now() < deadline) await sleep(100);
      const { stderr } = up.output();
      assert.equal(up.child.exitCode, 1, `exit code; stderr: ${stderr.slice(-2000)}`);
      assert.match(
        stderr,
        /pgvigil: the embedded PostgreSQL \(pid \d+\) killed by SIGKILL and could not be restarted after 7 attempts/,
      );
    } finally {
      chmodSync(join(dataDir, 'postgres'), 0o700);
      await up.stop('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    }
  });
});
