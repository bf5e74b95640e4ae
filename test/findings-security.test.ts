/**
 * Security, log and watchdog checks end to end on a real server and store: real sshd, fail2ban, UFW and
 * kernel lines (stamped now) parsed by the agent's own parsers and pushed as log entries; PostgreSQL
 * authentication failures caused for real against a PostgreSQL of the test's own, its log read and
 * parsed; a silent agent, a refused configuration, a skewed clock and a failing server job.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { EntryAssembler } from '../src/agent/logs/assemble.js';
import { parsers } from '../src/agent/logs/parsers/index.js';
import type { LogEntry } from '../src/protocol/logs.js';
import type { FindingRow } from '../src/storage/queries/findings.sql.js';
import { recordJobEnd, recordJobStart } from '../src/storage/queries/jobs.sql.js';
import { setAgentLastSeen } from '../src/storage/queries/watchdog.sql.js';
import { testPgLabel } from './helpers/db.js';
import { type FindingsServer, startFindingsServer } from './helpers/findings.js';
import { removeDir, startPrivateCluster } from './helpers/pg-cluster.js';
import { until } from './helpers/wait.js';

let fs: FindingsServer;

before(async () => {
  fs = await startFindingsServer('findsec');
});
after(async () => {
  await fs.close();
});

/** Log text → entries through the agent's parser, as its pipeline does. */
function parse(parser: string, source: string, text: string, prefix?: string): LogEntry[] {
  const spec = parsers[parser];
  assert.ok(spec, parser);
  const asm = new EntryAssembler(spec, { source, timezone: 'UTC', ...(prefix ? { prefix } : {}) });
  const out: LogEntry[] = [];
  let offset = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const e = asm.push(line, Date.now(), offset);
    offset += Buffer.byteLength(line) + 1;
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

/** rsyslog's ISO stamp ("2026-12-02T16:30:01.123456+00:00") `agoMs` before now. */
function rsyslogStamp(agoMs: number): string {
  return new Date(Date.now() - agoMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** fail2ban's stamp ("2026-12-02 16:30:05,123"). */
function fail2banStamp(agoMs: number): string {
  return new Date(Date.now() - agoMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.(\d{3})Z$/, ',$1');
}

interface SecurityEventBody {
  events: Array<{
    id: string;
    serverId: number;
    type: string;
    sourceIp: string;
    username: string;
    count: number;
    windowStart: string;
    windowEnd: string;
    sampleLines: string[];
    detail: Record<string, unknown>;
  }>;
  nextCursor: string | null;
}

async function securityEvents(query: string): Promise<SecurityEventBody> {
  const res = await fetch(`${fs.base}/api/v1/security-events?${query}`, { headers: fs.admin });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as SecurityEventBody;
}

/** A finding's evidence ({} when there is no finding: the assertion on it then fails clearly). */
const evidenceOf = (f: FindingRow | undefined) => (f?.evidence ?? {}) as Record<string, unknown>;

const sum = (events: SecurityEventBody['events']) => events.reduce((n, e) => n + e.count, 0);

describe(`security and log checks on real log lines (${testPgLabel})`, () => {
  test('an_ssh_brute_force_opens_an_alert_with_the_address_users_and_ufw_deny_and_is_stored_once_per_window', async () => {
    const agent = await fs.enroll('bastion');
    const attacker = '203.0.113.45';
    const invalid = ['admin', 'oracle', 'postgres', 'test', 'ubuntu', 'git'];
    let auth = '';
    let t = 90_000;
    let port = 50122;
    for (const user of invalid) {
      auth += `${rsyslogStamp(t)} bastion sshd[${4000 + port - 50122}]: Invalid user ${user} from ${attacker} port ${port}\n`;
      auth += `${rsyslogStamp(t - 500)} bastion sshd[${4000 + port - 50122}]: Failed password for invalid user ${user} from ${attacker} port ${port} ssh2\n`;
      t -= 5000;
      port++;
    }
    for (let i = 0; i < 3; i++) {
      auth += `${rsyslogStamp(t)} bastion sshd[${4100 + i}]: Failed password for root from ${attacker} port ${port + i} ssh2\n`;
      t -= 3000;
    }
    // A legitimate login and a single typo from another address are not an attack.
    auth += `${rsyslogStamp(20_000)} bastion sshd[4200]: Accepted publickey for deploy from 192.0.2.10 port 40000 ssh2: ED25519 SHA256:abc\n`;
    auth += `${rsyslogStamp(19_000)} bastion sshd[4201]: Failed password for alice from 192.0.2.11 port 40001 ssh2\n`;
    const fail2ban = `${fail2banStamp(15_000)} fail2ban.filter         [812]: INFO    [sshd] Found ${attacker} - ${fail2banStamp(15_000)}\n${fail2banStamp(14_000)} fail2ban.actions        [812]: NOTICE  [sshd] Ban ${attacker}\n`;
    let kernel = '';
    for (let i = 0; i < 12; i++) {
      kernel += `${rsyslogStamp(60_000 - i * 2000)} bastion kernel: [812345.${100 + i}] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.23 DST=10.0.0.5 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=${54321 + i} PROTO=TCP SPT=41234 DPT=5432 WINDOW=1024 RES=0x00 SYN URGP=0\n`;
    }
    kernel += `${rsyslogStamp(30_000)} bastion kernel: [812400.000001] blk_update_request: I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n`;
    kernel += `${rsyslogStamp(29_000)} bastion kernel: [812400.000101] Buffer I/O error on dev sdb1, logical block 256, lost async page write\n`;
    const logs = [
      ...parse('syslog', 'auth', auth),
      ...parse('fail2ban', 'fail2ban', fail2ban),
      ...parse('syslog', 'kernel', kernel),
    ];
    assert.equal(logs.filter((e) => e.context.event === 'ssh_auth_failed').length, 10);
    await fs.push(agent, [], { logs });
    await fs.runJob();

    const q = `server=${agent.serverId}&state=open`;
    const brute = await fs.waitFor(q, (f) => f.check === 'security.ssh_bruteforce');
    assert.equal(brute.object, attacker);
    assert.equal(brute.severity, 'warning');
    const ev = brute.evidence as Record<string, unknown>;
    // Six invalid users (each logs "Invalid user" and "Failed password") and three root passwords: 9 tries.
    assert.equal(ev.count, 9);
    assert.deepEqual([...(ev.users as string[])].sort(), [...invalid, 'root'].sort());
    assert.ok((ev.sample_lines as string[]).length === 5);
    assert.ok(Date.parse(String(ev.first)) < Date.parse(String(ev.last)));
    assert.match(brute.action, /^ufw deny from 203\.0\.113\.45;/);
    assert.match(brute.action, /fail2ban-client status sshd/);
    const all = await fs.findings(`server=${agent.serverId}`);
    assert.ok(!all.some((f) => f.object === '192.0.2.11'), 'one failed login is not an attack');

    const ban = all.find((f) => f.check === 'security.fail2ban_bans');
    assert.equal(ban?.object, attacker);
    assert.equal(ban?.severity, 'info');
    assert.deepEqual(evidenceOf(ban).jails, ['sshd']);
    const ufw = all.find((f) => f.check === 'security.firewall_blocks');
    assert.equal(ufw?.object, '198.51.100.23');
    assert.equal(evidenceOf(ufw).count, 12);
    const disk = all.find((f) => f.check === 'logs.disk_errors' && f.object === 'io:sdb');
    assert.equal(disk?.severity, 'critical');
    assert.match(String(disk?.action), /dmesg -T \| tail -n 50; smartctl -a \/dev\/sdb$/);
    assert.ok(all.some((f) => f.check === 'logs.disk_errors' && f.object === 'io:sdb1'));

    // Stored: counted once per 5-minute window, however often the job runs.
    const first = await securityEvents(`server=${agent.serverId}&type=ssh_bruteforce`);
    assert.equal(sum(first.events), 9);
    assert.ok(first.events.every((e) => e.sourceIp === attacker && e.username === ''));
    assert.ok(first.events.every((e) => Date.parse(e.windowEnd) - Date.parse(e.windowStart) === 300_000));
    await fs.runJob();
    await fs.runJob();
    const again = await securityEvents(`server=${agent.serverId}&type=ssh_bruteforce`);
    assert.deepEqual(
      again.events.map((e) => [e.id, e.count]),
      first.events.map((e) => [e.id, e.count]),
    );
    // Later, the sliding window has lost the first two attempts but still sees an attack: the stored
    // windows keep their whole counts.
    await fs.runJob(new Date(Date.now() + 220_000));
    assert.equal(sum((await securityEvents(`server=${agent.serverId}&type=ssh_bruteforce`)).events), 9);
    const byIp = await securityEvents(`ip=198.51.100.23`);
    assert.equal(sum(byIp.events.filter((e) => e.type === 'firewall_block')), 12);
    const bans = await securityEvents(`server=${agent.serverId}&type=fail2ban_ban`);
    assert.equal(sum(bans.events), 1);
    // Paging: one event per page until the end.
    const page1 = await securityEvents(`server=${agent.serverId}&limit=1`);
    assert.equal(page1.events.length, 1);
    assert.ok(page1.nextCursor);
    const page2 = await securityEvents(`server=${agent.serverId}&limit=1&cursor=${page1.nextCursor}`);
    assert.notEqual(page2.events[0]?.id, page1.events[0]?.id);
    // Bad filters are 400s that name the parameter.
    for (const [query, what] of [
      ['type=nope', /type: "nope"/],
      ['ip=1.2.3.4;rm', /ip: /],
      ['cursor=xyz', /cursor/],
      ['from=yesterday', /from: /],
    ] as const) {
      const res = await fetch(`${fs.base}/api/v1/security-events?${query}`, { headers: fs.admin });
      assert.equal(res.status, 400, query);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, what);
    }
    const anon = await fetch(`${fs.base}/api/v1/security-events`);
    assert.equal(anon.status, 401);

    // Six minutes later the window holds none of it: the alerts resolve.
    await fs.runJob(new Date(Date.now() + 6 * 60_000));
    const resolved = await fs.findings(`server=${agent.serverId}&state=resolved`);
    for (const check of ['security.ssh_bruteforce', 'security.fail2ban_bans', 'security.firewall_blocks']) {
      assert.ok(
        resolved.some((f) => f.check === check),
        `${check} resolved; resolved: ${resolved.map((f) => f.check).join(', ')}`,
      );
    }
    assert.ok(resolved.some((f) => f.id === brute.id));
  });

  test('postgresql_password_failures_caused_for_real_open_an_alert_by_address_and_user', async () => {
    // Debian's default prefix names no client address: the check finds it on the connection line.
    const prefix = '%m [%p] %q%u@%d ';
    const server = await startPrivateCluster({
      logging_collector: 'on',
      log_destination: 'stderr',
      log_directory: 'log',
      log_filename: 'postgresql.log',
      log_file_mode: '0644',
      log_timezone: 'UTC',
      log_connections: 'on',
      log_line_prefix: prefix,
    });
    try {
      const admin = new pg.Client({ connectionString: server.url() });
      await admin.connect();
      await admin.query(`CREATE ROLE app_user LOGIN PASSWORD 'right-password'`);
      await admin.end();
      const wrong = server.url().replace(`${server.superuser}:${server.password}`, 'app_user:wrong-password');
      for (let i = 0; i < 7; i++) {
        const c = new pg.Client({ connectionString: wrong });
        await assert.rejects(c.connect(), /password authentication failed for user "app_user"/);
      }
      let entries: LogEntry[] = [];
      let failures: LogEntry[] = [];
      await until(
        () => {
          const file = join(server.pgdata, 'log', readdirSync(join(server.pgdata, 'log'))[0] ?? 'none');
          entries = parse('postgresql', 'postgresql', readFileSync(file, 'utf8'), prefix);
          failures = entries.filter((e) => e.context.event === 'auth_failed');
          return failures.length >= 7;
        },
        10_000,
        'seven failures in the log',
        () => `${failures.length} so far`,
      );
      assert.equal(failures.length, 7, 'seven failures in the log');
      assert.equal(failures[0]!.context.host, undefined, 'the prefix names no host');

      const agent = await fs.enroll('db-auth');
      await fs.push(agent, [], { logs: entries });
      await fs.runJob();
      const f = await fs.waitFor(
        `server=${agent.serverId}&state=open`,
        (x) => x.check === 'security.pg_auth_failures',
      );
      assert.equal(f.object, 'app_user@127.0.0.1');
      assert.equal(f.severity, 'warning');
      const ev = f.evidence as Record<string, unknown>;
      assert.equal(ev.count, 7);
      assert.equal(ev.user, 'app_user');
      assert.equal(ev.ip, '127.0.0.1');
      assert.match(
        String((ev.sample_lines as string[])[0]),
        /password authentication failed for user "app_user"/,
      );
      assert.match(f.action, /FROM pg_roles WHERE rolname = 'app_user'/);
      assert.match(f.action, /ufw deny from 127\.0\.0\.1/);
      // The FATALs are authentication failures: not counted again as a FATAL burst or an error pattern.
      const all = await fs.findings(`server=${agent.serverId}`);
      assert.ok(!all.some((x) => x.check === 'logs.pg_fatal_burst' || x.check === 'logs.error_patterns'));
      const stored = await securityEvents(`server=${agent.serverId}&type=pg_auth_failure`);
      assert.equal(sum(stored.events), 7);
      assert.equal(stored.events[0]?.username, 'app_user');
      assert.equal(stored.events[0]?.sourceIp, '127.0.0.1');
      // The attempts stopped: once their 5-minute window has passed, two quiet runs resolve it.
      const later = Date.now() + 6 * 60_000;
      await fs.runJob(new Date(later));
      await fs.runJob(new Date(later + 60_000));
      await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    } finally {
      await server.stop();
      await removeDir(server.dir);
    }
  });

  test('a_repeating_error_becomes_a_recommendation_with_a_command_for_its_program', async () => {
    const agent = await fs.enroll('app-host');
    let text = '';
    for (let i = 0; i < 12; i++) {
      text += `<27>${rsyslogStamp(600_000 - i * 30_000)} app-host myapp[${900 + i}]: ERROR could not connect to upstream 10.1.2.${i}:8080: connection refused\n`;
    }
    const logs = parse('syslog', 'syslog', text);
    assert.equal(new Set(logs.map((e) => e.fingerprint)).size, 1);
    await fs.push(agent, [], { logs });
    await fs.runJob();
    const f = await fs.waitFor(`server=${agent.serverId}`, (x) => x.check === 'logs.error_patterns');
    assert.equal(f.kind, 'recommendation');
    assert.equal(f.severity, 'info');
    assert.equal((f.evidence as Record<string, unknown>).count, 12);
    assert.equal(f.action, 'journalctl -t myapp --since "-1h" -p err');
  });
});

describe(`watchdog (${testPgLabel})`, () => {
  test('an_agent_that_stops_sending_is_critical_and_resolves_on_its_next_batch', async () => {
    const agent = await fs.enroll('quiet-host');
    await fs.push(agent, [], { status: { pushIntervalMs: 10_000, collectors: [] } });
    await fs.runJob();
    assert.ok(
      !(await fs.findings(`server=${agent.serverId}`)).some((f) => f.check === 'watchdog.agent_silent'),
    );
    assert.ok(await setAgentLastSeen(fs.ts.store.pool, agent.agentId, new Date(Date.now() - 5 * 60_000)));
    await fs.runJob();
    const f = await fs.waitFor(
      `server=${agent.serverId}&state=open`,
      (x) => x.check === 'watchdog.agent_silent',
    );
    assert.equal(f.severity, 'critical');
    assert.equal(f.object, `agent:${agent.agentId}`);
    assert.ok(Number((f.evidence as Record<string, unknown>).silent_s) >= 299);
    // The server records arrivals at most every 10 s per agent: wait that out, then the agent is back.
    await sleep(10_500);
    await fs.push(agent, [], { status: { pushIntervalMs: 10_000, collectors: [] } });
    await fs.runJob();
    await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
  });

  test('refused_config_failing_collectors_and_a_skewed_clock_are_warnings', async () => {
    const agent = await fs.enroll('skewed-host');
    await fs.push(agent, [], {
      sealedAt: Date.now() + 120_000,
      status: {
        pushIntervalMs: 10_000,
        collectors: [
          { name: 'pressure', status: 'failing', lastError: 'ENOENT: /proc/pressure/cpu', failures: 3 },
          { name: 'cpu', status: 'ok' },
        ],
        health: { spool: { pendingBatches: 1 } },
      },
    });
    const res = await fetch(`${fs.base}/api/v1/agents/${agent.agentId}/config-status`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ etag: 'v7', applied: false, error: 'logs.sources[0].paths: expected an array' }),
    });
    assert.equal(res.status, 204, await res.text());
    await fs.runJob();
    const all = await fs.findings(`server=${agent.serverId}&state=open`);
    const skew = all.find((f) => f.check === 'watchdog.clock_skew');
    assert.equal(skew?.severity, 'warning');
    const skewMs = Number(evidenceOf(skew).skew_ms);
    assert.ok(skewMs > 110_000 && skewMs <= 120_000, `skew ${skewMs}`);
    const config = all.find((f) => f.check === 'watchdog.config_refused');
    assert.match(String(evidenceOf(config).error), /expected an array/);
    const collector = all.find((f) => f.check === 'watchdog.collector_failing');
    assert.equal(collector?.object, 'collector:pressure');
    assert.match(String(evidenceOf(collector).error), /ENOENT/);
  });

  test('a_failing_server_job_is_a_warning', async () => {
    await recordJobStart(fs.ts.store.pool, 'rollups-test', 60_000);
    await recordJobEnd(fs.ts.store.pool, 'rollups-test', 12, 'relation "pgvigil.x" does not exist');
    await fs.runJob();
    const f = await fs.waitFor('state=open', (x) => x.check === 'watchdog.job_failing');
    assert.equal(f.object, 'job:rollups-test');
    assert.match(String((f.evidence as Record<string, unknown>).error), /does not exist/);
  });
});
