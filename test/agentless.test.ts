/**
 * Agentless targets end to end: Debian's PostgreSQL 15 with TLS (a test CA) and a login role with only
 * pg_monitor, polled by two real `pgvigil server` processes on one store. Shows: one poll per interval,
 * not two; the instance that polls killed with SIGKILL and the other taking over within two intervals;
 * the stored rows equal what the agent's collector reads from the same server; a family the role may not
 * read (a function the "provider" forbids) degraded with its reason; verify-full with the CA bundle works
 * and a wrong CA fails with a clear error; the password in no log line, API answer or store column.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { silentLogger } from '../src/log.js';
import { sslOptions } from '../src/server/agentless/connection.js';
import { freePort, type RunningCluster, serverUser, startCluster } from '../src/storage/cluster.js';
import { makeCa, makeSigned, opensslSkip } from './helpers/certs.js';
import { type RunningCli, startCli } from './helpers/cli.js';
import { createTestDatabase, testPgLabel } from './helpers/db.js';
import { collectContext, debianPg15Bin, debianToolSkip, rowsOf, sleep } from './helpers/pg-cluster.js';
import { createTestUser } from './helpers/users.js';
import { waitFor } from './helpers/wait.js';

const skip = debianToolSkip(join(debianPg15Bin, 'postgres')) || opensslSkip();

// biome-ignore lint/suspicious/noExplicitAny: JSON answers of the API, checked by the assertions
type Json = Record<string, any>;

const intervalS = 2;
const intervalMs = intervalS * 1000;

/** A CA with a server certificate for 127.0.0.1 and localhost, and another CA that signed nothing here. */
function makeCertificates(dir: string): void {
  makeCa(dir, 'ca');
  makeCa(dir, 'wrong-ca');
  makeSigned(dir, 'ca', 'server');
}

interface Api {
  base: string;
  headers: Record<string, string>;
  answers: string[];
}

async function call(api: Api, method: string, path: string, body?: unknown) {
  const res = await fetch(`${api.base}/api/v1${path}`, {
    method,
    headers: { ...api.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  api.answers.push(text);
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

test(`agentless_target_polled_by_one_of_two_servers_with_takeover_tls_and_no_password_leak (${testPgLabel})`, {
  skip,
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-agentless-'));
  chmodSync(dir, 0o755);
  const db = await createTestDatabase('agentless');
  let cluster: RunningCluster | undefined;
  const servers: RunningCli[] = [];
  try {
    makeCertificates(dir);
    const user = await serverUser('pgvigil', silentLogger());
    if (user) {
      chownSync(join(dir, 'server.key'), user.uid, user.gid);
      chownSync(join(dir, 'server.pem'), user.uid, user.gid);
    }
    chmodSync(join(dir, 'server.key'), 0o600);
    cluster = await startCluster({
      binDir: debianPg15Bin,
      pgdata: join(dir, 'pgdata'),
      superuser: 'pgvigil_test',
      password: 'superuser-pw',
      logFile: join(dir, 'pg15.log'),
      runAsUser: 'pgvigil',
      settings: {
        ssl: 'on',
        ssl_cert_file: join(dir, 'server.pem'),
        ssl_key_file: join(dir, 'server.key'),
        shared_preload_libraries: 'pg_stat_statements',
        fsync: 'off',
        shared_buffers: '32MB',
      },
      log: silentLogger(),
    });
    // The monitoring role a managed database gives: pg_monitor and nothing more; and a function the
    // "provider" forbids (as some do with WAL functions), which the pg_wal family needs.
    const password = `Pw${randomBytes(12).toString('hex')}`;
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query(`CREATE ROLE monitor LOGIN PASSWORD '${password}' IN ROLE pg_monitor`);
    await admin.query('REVOKE EXECUTE ON FUNCTION pg_current_wal_lsn() FROM PUBLIC');
    const v = await admin.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    assert.equal(Math.floor(Number(v.rows[0]!.v) / 10000), 15);
    await admin.end();
    const ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const wrongCa = readFileSync(join(dir, 'wrong-ca.pem'), 'utf8');
    const targetUrl = `postgres://monitor:${password}@localhost:${cluster.port}/postgres?sslmode=verify-full`;

    // Two server instances on one store, each with its own log (JSON, debug: every line it can write).
    // Both with the one key file, made by the first (mode 0600) and read by the second: the key that seals
    // the password is outside the store and shared by the instances.
    const keyFile = join(dir, 'keys', 'secret.key');
    const env = {
      PGVIGIL_SECRET_KEY: '',
      DATABASE_URL: db.url,
      PGVIGIL_LOG_LEVEL: 'debug',
      PGVIGIL_LOG_FORMAT: 'json',
      PGVIGIL_AGENTLESS_TICK_MS: '200',
    };
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const s = startCli(['server', '--port', String(port), '--secrets-key-file', keyFile], env);
      await s.waitFor(/server listening/, 90_000);
      servers.push(s);
    }
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const ports = servers.map((s) => Number(/127\.0\.0\.1:(\d+)/.exec(s.output().stdout)![1]));
    const adminUser = await createTestUser(db.pool, 'admin');
    const viewer = await createTestUser(db.pool, 'viewer');
    const answers: string[] = [];
    const api: Api = { base: `http://127.0.0.1:${ports[0]}`, headers: adminUser.headers, answers };
    const api2: Api = { base: `http://127.0.0.1:${ports[1]}`, headers: adminUser.headers, answers };
    const asViewer: Api = { base: api.base, headers: viewer.headers, answers };

    // A viewer may not add one; a wrong CA makes a target whose instance is down with a clear reason.
    const denied = await call(asViewer, 'POST', '/agentless-targets', { name: 'x', url: targetUrl });
    assert.equal(denied.status, 403);
    const malformed = await call(api, 'POST', '/agentless-targets', {
      name: 'bad-escape',
      url: 'postgres://mon:pw@db.example.com/%zz',
    });
    assert.equal(malformed.status, 400, JSON.stringify(malformed.body));
    assert.match(JSON.stringify(malformed.body), /database name is not valid percent-encoding/);
    const wrong = await call(api, 'POST', '/agentless-targets', {
      name: 'wrong-ca',
      url: targetUrl,
      caPem: wrongCa,
      intervalSeconds: intervalS,
    });
    assert.equal(wrong.status, 201, JSON.stringify(wrong.body));
    const made = await call(api, 'POST', '/agentless-targets', {
      name: 'managed-pg15',
      url: targetUrl,
      caPem: ca,
      intervalSeconds: intervalS,
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.sslmode, 'verify-full');
    assert.equal(made.body.user, 'monitor');
    assert.equal(made.body.caBundle, true);
    assert.equal(made.body.hostMetrics, 'agentless: no host metrics');
    const dup = await call(api, 'POST', '/agentless-targets', { name: 'managed-pg15', url: targetUrl });
    assert.equal(dup.status, 409);
    const serverId = made.body.serverId as number;
    const wrongServer = wrong.body.serverId as number;

    const wrongDown = await waitFor(
      'the wrong-CA target reported down',
      async () => {
        const r = await call(api2, 'GET', `/servers/${wrongServer}`);
        const t = r.body.targets?.[0];
        return t?.status === 'down' ? t : undefined;
      },
      30_000,
    );
    assert.match(wrongDown.error, /TLS certificate of localhost:\d+ is not trusted/);

    // Polls begin; then a steady stretch to count them.
    const instanceTs = async (): Promise<number[]> =>
      (
        await db.pool.query<{ t: string }>(
          `SELECT (extract(epoch FROM ts) * 1000)::bigint AS t FROM pgvigil.pg_instance
            WHERE server_id = $1 AND up ORDER BY ts`,
          [serverId],
        )
      ).rows.map((r) => Number(r.t));
    await waitFor('the first poll', async () => ((await instanceTs()).length > 0 ? true : undefined), 30_000);
    await sleep(10 * intervalMs + 500);
    const steady = await instanceTs();
    const gaps = steady.slice(1).map((t, i) => t - steady[i]!);
    const span = steady.at(-1)! - steady[0]!;
    process.stdout.write(
      `# ${steady.length} polls over ${span} ms; gaps between polls (ms): ${gaps.join(' ')}\n`,
    );
    assert.ok(steady.length >= 5, `polls: ${steady.length}`);
    // One poll per interval, not two: no two polls closer than three quarters of an interval, and the
    // count matches the span.
    assert.ok(Math.min(...gaps) >= 0.75 * intervalMs, `gaps: ${gaps.join(' ')}`);
    assert.ok(steady.length <= Math.floor(span / intervalMs) + 2, `${steady.length} polls in ${span} ms`);
    const ledger = await db.pool.query<{ n: string; seqs: string }>(
      `SELECT count(*) AS n, count(DISTINCT seq) AS seqs FROM pgvigil.ingest_ledger WHERE server_id = $1`,
      [serverId],
    );
    assert.equal(ledger.rows[0]!.n, ledger.rows[0]!.seqs);

    // The owner now, by its lease; kill it and wait for the other to poll.
    const before = await call(api, 'GET', `/agentless-targets/${made.body.targetId}`);
    const owner = before.body.lease.owner as string;
    const ownerPid = Number(owner.split(':')[1]);
    const victim = servers.findIndex((s) => s.child.pid === ownerPid);
    assert.ok(victim >= 0, `lease owner ${owner} is one of the two servers`);
    const survivor = servers[1 - victim]!;
    const survivorApi = victim === 0 ? api2 : api;
    const lastBefore = (await instanceTs()).at(-1)!;
    await servers[victim]!.stop('SIGKILL');
    const killedAt = Date.now();
    const next = await waitFor(
      'a poll by the other instance',
      async () => {
        const t = (await instanceTs()).find((x) => x > killedAt);
        return t;
      },
      20_000,
    );
    // Taken over within two intervals of the kill. The stored series may miss one poll more: a slot the
    // killed instance had claimed just before it died is lost with it (the lease then runs 1.5 intervals).
    const takeoverMs = next - killedAt;
    const dataGapMs = next - lastBefore;
    process.stdout.write(
      `# takeover: next poll ${takeoverMs} ms after the kill; ${dataGapMs} ms after the killed instance's last stored poll\n`,
    );
    assert.ok(takeoverMs <= 2 * intervalMs, `takeover took ${takeoverMs} ms after the kill`);
    assert.ok(dataGapMs <= 3 * intervalMs, `the stored series has a hole of ${dataGapMs} ms`);
    const after = await call(survivorApi, 'GET', `/agentless-targets/${made.body.targetId}`);
    assert.equal(Number((after.body.lease.owner as string).split(':')[1]), survivor.child.pid);
    await sleep(3 * intervalMs);
    const afterTs = (await instanceTs()).filter((t) => t > killedAt);
    const afterGaps = afterTs.slice(1).map((t, i) => t - afterTs[i]!);
    assert.ok(afterTs.length >= 2 && Math.min(...afterGaps) >= 0.75 * intervalMs, `${afterGaps.join(' ')}`);

    // What an agent would have sent: the agent's collector on the same server, as the same role.
    const agent = createPostgresCollector(targetUrl.replace('?sslmode=verify-full', ''), {
      ssl: sslOptions('verify-full', ca),
    });
    const directAt = new Date();
    const direct = await agent.collect(collectContext());
    await agent.close();
    const stored = await db.pool.query<Json>(
      `SELECT * FROM pgvigil.pg_database WHERE server_id = $1 AND ts = (
         SELECT max(ts) FROM pgvigil.pg_database WHERE server_id = $1 AND ts < $2) ORDER BY datname`,
      [serverId, directAt],
    );
    const agentDb = rowsOf(direct, 'pg_database').sort((a, b) =>
      String(a.datname).localeCompare(String(b.datname)),
    );
    assert.deepEqual(
      stored.rows.map((r) => r.datname),
      agentDb.map((r) => r.datname),
    );
    for (const [i, s] of stored.rows.entries()) {
      const a = agentDb[i]!;
      // Counters only move forward between the stored poll and the agent's later read.
      for (const c of ['xact_commit', 'blks_hit', 'tup_returned', 'sessions'])
        assert.ok(Number(a[c]) >= Number(s[c]), `${s.datname}.${c}: agent ${a[c]} < stored ${s[c]}`);
      for (const c of ['deadlocks', 'conflicts', 'temp_files', 'checksum_failures'])
        assert.equal(
          s[c] === null ? null : Number(s[c]),
          a[c] === null ? null : Number(a[c]),
          `${s.datname}.${c}`,
        );
      // Sizes are read when the databases are visited (every minute by default): null in between, never 0.
      assert.ok(s.size_bytes === null || Number(s.size_bytes) > 0, `${s.datname}.size_bytes ${s.size_bytes}`);
    }
    const storedSizes = await db.pool.query<Json>(
      `SELECT DISTINCT ON (datname) datname, size_bytes FROM pgvigil.pg_database
        WHERE server_id = $1 AND ts < $2 AND size_bytes IS NOT NULL ORDER BY datname, ts DESC`,
      [serverId, directAt],
    );
    assert.deepEqual(
      storedSizes.rows.map((r) => r.datname),
      agentDb.map((r) => r.datname),
      'every database has a size stored',
    );
    for (const [i, s] of storedSizes.rows.entries()) {
      const a = agentDb[i]!;
      assert.ok(Math.abs(Number(s.size_bytes) - Number(a.size_bytes)) <= 0.05 * Number(a.size_bytes));
    }
    const storedSettings = await db.pool.query<{ name: string; setting: string; source: string }>(
      `SELECT DISTINCT name, setting, source FROM pgvigil.pg_settings WHERE server_id = $1 ORDER BY name`,
      [serverId],
    );
    const agentSettings = rowsOf(direct, 'pg_settings')
      .map((r) => ({ name: r.name, setting: r.setting, source: r.source }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
    assert.ok(agentSettings.length > 10);
    const byName = (a: { name: unknown }, b: { name: unknown }) =>
      String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0;
    assert.deepEqual([...storedSettings.rows].sort(byName), agentSettings.sort(byName));

    // The forbidden function: pg_wal degraded with its reason, in the store and the server view, as the
    // agent itself sees it; the rest collected.
    const agentWal = rowsOf(direct, 'pg_collector').find((r) => r.family === 'pg_wal');
    assert.equal(agentWal?.ok, false);
    const view = await call(survivorApi, 'GET', `/servers/${serverId}`);
    assert.equal(view.status, 200);
    const wal = (view.body.degraded as Array<Json>).find((d) => d.name === 'pg_wal');
    assert.ok(wal, JSON.stringify(view.body.degraded));
    assert.match(wal.error, /permission denied for function pg_current_wal_lsn/);
    // A privilege refusal names the role connected as: the finding's GRANT is written for it.
    assert.match(String(agentWal?.error), /\(SQLSTATE 42501\); the agent connects as role "monitor"$/);
    // The same reason; a poller that has polled again since adds when it will ask again (refusals pause).
    const reason = (e: unknown) => String(e).replace(/; not asked again before \S+$/, '');
    assert.equal(reason(wal.error), reason(agentWal?.error));
    assert.equal(view.body.targets[0].status, 'degraded');
    assert.equal(view.body.agentless, true);
    assert.equal(view.body.hostMetrics, 'agentless: no host metrics');
    assert.equal(view.body.status, 'degraded', 'polled: not silent, degraded only by pg_wal');
    // Degraded exactly where the agent's own collector fails with this role (the forbidden function is
    // also behind the replication lag columns; pg_stat_statements is not created), and for no host family.
    const agentFailing = rowsOf(direct, 'pg_collector')
      .filter((r) => r.ok === false)
      .map((r) => String(r.family))
      .sort();
    const degradedNames = (view.body.degraded as Array<Json>).map((d) => String(d.name)).sort();
    process.stdout.write(`# degraded families: ${degradedNames.join(', ')}\n`);
    assert.deepEqual([...new Set(degradedNames)], [...new Set(agentFailing)]);
    for (const d of view.body.degraded as Array<Json>) {
      assert.equal(d.source, 'postgres');
      assert.ok(typeof d.error === 'string' && d.error.length > 0, JSON.stringify(d));
    }
    const okFamilies = await db.pool.query<{ n: string }>(
      `SELECT count(DISTINCT family) AS n FROM pgvigil.pg_collector WHERE server_id = $1 AND ok`,
      [serverId],
    );
    assert.ok(Number(okFamilies.rows[0]!.n) >= 8);
    const hostRows = await db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM pgvigil.host_cpu WHERE server_id = $1',
      [serverId],
    );
    assert.equal(Number(hostRows.rows[0]!.n), 0);
    const gapsAnswer = await call(survivorApi, 'GET', `/gaps?server=${serverId}`);
    assert.equal(gapsAnswer.status, 200, JSON.stringify(gapsAnswer.body));
    // Polled: no silence of its "agent", and no gap for the host families it never has.
    assert.deepEqual(gapsAnswer.body.gaps, [], JSON.stringify(gapsAnswer.body.gaps));
    const listed = await call({ ...asViewer, base: survivorApi.base }, 'GET', '/agentless-targets');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.targets.length, 2);
    await call(survivorApi, 'GET', '/fleet');
    await call(survivorApi, 'GET', `/servers/${serverId}/targets`);

    // The password: in no answer, no log line of either server, no column of the store.
    for (const a of answers)
      assert.ok(!a.includes(password), `an API answer holds the password: ${a.slice(0, 200)}`);
    let logLines = 0;
    for (const s of servers) {
      const { stdout, stderr } = s.output();
      logLines += stderr.split('\n').length;
      assert.ok(!stdout.includes(password) && !stderr.includes(password), 'a server log holds the password');
    }
    assert.ok(logLines > 10, `the servers logged ${logLines} lines`);
    const tables = await db.pool.query<{ t: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'pgvigil' AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
    );
    assert.ok(tables.rows.length > 20);
    for (const { t } of tables.rows) {
      const hit = await db.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${t} x WHERE strpos(x::text, $1) > 0 OR strpos(x::text, $2) > 0`,
        [password, Buffer.from(password).toString('hex')],
      );
      assert.equal(Number(hit.rows[0]!.n), 0, `${t} holds the password in clear`);
    }
  } finally {
    for (const s of servers) await s.stop('SIGTERM').catch(() => {});
    await cluster?.stop().catch(() => {});
    await db.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
