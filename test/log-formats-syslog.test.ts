/**
 * PostgreSQL's syslog output as a real rsyslog writes it reads exactly like its stderr output of the same
 * run. Debian's PostgreSQL 15 logs with `log_destination = 'stderr,syslog'` (logging_collector off, stderr
 * to a file) to a private rsyslogd; the test causes a failed login, errors with statements (one statement
 * of three lines, one longer than PostgreSQL's 900-byte syslog chunk), a slow statement and a checkpoint,
 * then parses the four files rsyslog wrote (traditional, RFC 3164 with <PRI>, ISO, RFC 5424) with
 * `postgresql_syslog` and the stderr file with `postgresql`, and compares them entry by entry.
 *
 * How PostgreSQL reaches the private rsyslogd: PostgreSQL calls the C library's syslog(), which always
 * writes to /dev/log. Rather than touch the machine's /dev/log (shared by whatever else runs there, and
 * absent in CI containers), the postmaster runs in its own mount namespace (`unshare --mount`, private
 * propagation) whose /dev is a small tmpfs holding the usual device nodes (bind-mounted from the real
 * /dev), /dev/shm, and /dev/log as a link to the socket our rsyslogd's imuxsock listens on. Nothing
 * outside the namespace changes. This needs root (CI runs as root); without root, rsyslog or Debian's
 * PostgreSQL 15 the test skips visibly by hand and fails under CI (debianToolSkip).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { EntryAssembler } from '../src/agent/logs/assemble.js';
import { parsers } from '../src/agent/logs/parsers/index.js';
import { silentLogger } from '../src/log.js';
import type { LogEntry } from '../src/protocol/logs.js';
import { freePort, startCluster } from '../src/storage/cluster.js';
import { debianPg15Bin, debianToolSkip } from './helpers/pg-cluster.js';
import { until } from './helpers/wait.js';

const rsyslogd = '/usr/sbin/rsyslogd';

function parseText(text: string, parser: string): LogEntry[] {
  const asm = new EntryAssembler(parsers[parser]!, { source: 'pg', timezone: 'UTC' });
  const out: LogEntry[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const e = asm.push(line, Date.now(), 0);
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

function skipReason(): string | false {
  const pgSkip = debianToolSkip(join(debianPg15Bin, 'postgres'));
  if (pgSkip) return pgSkip;
  const rsSkip = debianToolSkip(rsyslogd, 'rsyslog');
  if (rsSkip) return rsSkip;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true')
      throw new Error('the syslog test needs root in CI (a mount namespace for /dev/log)');
    const msg =
      'SKIPPED: not root — the syslog test runs PostgreSQL in a mount namespace with a private /dev/log';
    process.stdout.write(`# ${msg}\n`);
    return msg;
  }
  // A container without CAP_SYS_ADMIN cannot make the mount namespace: say so rather than fail obscurely.
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']);
  if (probe.status !== 0) {
    const why = `unshare --mount fails here (${String(probe.stderr ?? probe.error).trim()})`;
    if (process.env.CI === 'true') throw new Error(`the syslog test needs a mount namespace: ${why}`);
    const msg = `SKIPPED: ${why} — the syslog test runs PostgreSQL with a private /dev/log`;
    process.stdout.write(`# ${msg}\n`);
    return msg;
  }
  return false;
}

const skip = skipReason();

const rsyslogConf = (dir: string) => `
global(workDirectory="${dir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${dir}/log.sock")
template(name="pri3164" type="string" string="<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag%%msg%\\n")
local5.* action(type="omfile" file="${dir}/traditional.log" template="RSYSLOG_TraditionalFileFormat")
local5.* action(type="omfile" file="${dir}/rfc3164.log" template="pri3164")
local5.* action(type="omfile" file="${dir}/iso.log" template="RSYSLOG_FileFormat")
local5.* action(type="omfile" file="${dir}/rfc5424.log" template="RSYSLOG_SyslogProtocol23Format")
`;

/** Runs in the new mount namespace as root, then becomes the postgres user and execs the postmaster. */
const namespaceScript = `set -e
d=$1; shift
mkdir -p "$d/realdev"
mount --rbind /dev "$d/realdev"
mount -t tmpfs -o mode=755,size=64k pgvigil-dev /dev
for n in null zero full random urandom tty; do touch "/dev/$n"; mount --bind "$d/realdev/$n" "/dev/$n"; done
mkdir /dev/shm
mount --rbind "$d/realdev/shm" /dev/shm
umount -l "$d/realdev"
ln -s "$d/log.sock" /dev/log
exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
`;

const waitForText = (path: string, text: string, what: string) =>
  until(() => existsSync(path) && readFileSync(path, 'utf8').includes(text), 20_000, `${what} in ${path}`);

/** Joins the newline the assembler puts where PostgreSQL cut a long syslog line (a cut is before a space). */
const uncut = (s: unknown) => (typeof s === 'string' ? s.replace(/\n(?= )/g, '') : (s ?? null));

function comparable(entries: LogEntry[]) {
  return entries
    .map((e) => ({
      ts: e.ts,
      level: e.level,
      message: uncut(e.message),
      event: e.context.event ?? null,
      pid: e.context.pid ?? null,
      user: e.context.user ?? null,
      database: e.context.database ?? null,
      detail: uncut(e.context.detail),
      statement: uncut(e.context.statement),
    }))
    .sort((a, b) =>
      a.ts === b.ts
        ? Number(a.pid) - Number(b.pid) || String(a.message).localeCompare(String(b.message))
        : a.ts < b.ts
          ? -1
          : 1,
    );
}

function countByEvent(entries: LogEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const k = `${e.level}:${String(e.context.event ?? '-')}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

describe('PostgreSQL through a real rsyslog', { skip, timeout: 180_000 }, () => {
  let dir = '';
  let rsyslog: ChildProcess | undefined;
  let postmaster: ChildProcess | undefined;
  const longStatement = `SELECT '${Array.from({ length: 250 }, (_, i) => `word${i}`).join(' ')}' || 1/0`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-syslog-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'rsyslog.conf'), rsyslogConf(dir));
    rsyslog = spawn(rsyslogd, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
      stdio: ['ignore', 'ignore', openSync(join(dir, 'rsyslogd.err'), 'a')],
    });
    await until(
      () => existsSync(join(dir, 'log.sock')),
      10_000,
      "rsyslogd's socket",
      () => readFileSync(join(dir, 'rsyslogd.err'), 'utf8'),
    );

    // initdb, roles and a database through the ordinary path; then the syslog-writing run of our own.
    const pgdata = join(dir, 'pgdata');
    const setup = await startCluster({
      binDir: debianPg15Bin,
      pgdata,
      superuser: 'pgvigil_test',
      password: 'test-password',
      logFile: join(dir, 'setup.log'),
      runAsUser: 'postgres',
      log: silentLogger(),
    });
    const admin = new pg.Client({ connectionString: setup.url('postgres') });
    await admin.connect();
    await admin.query("CREATE ROLE bob LOGIN PASSWORD 'right-password'");
    await admin.query('CREATE DATABASE app OWNER bob');
    await admin.end();
    await setup.stop();

    const port = await freePort();
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      log_destination: 'stderr,syslog',
      logging_collector: 'off',
      syslog_facility: 'LOCAL5',
      syslog_ident: 'postgres',
      log_line_prefix: '%m [%p] %q%u@%d ',
      log_timezone: 'UTC',
      log_checkpoints: 'on',
      log_connections: 'on',
      log_min_duration_statement: '50',
      fsync: 'off',
    };
    const args = [join(debianPg15Bin, 'postgres'), '-D', pgdata, '-p', String(port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    writeFileSync(join(dir, 'in-namespace.sh'), namespaceScript);
    const stderrFd = openSync(join(dir, 'stderr.log'), 'a');
    postmaster = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', join(dir, 'in-namespace.sh'), dir, ...args],
      { stdio: ['ignore', stderrFd, stderrFd], env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' } },
    );
    closeSync(stderrFd);
    const url = (user: string, password: string, db: string) =>
      `postgres://${user}:${password}@127.0.0.1:${port}/${db}`;
    const ready = Date.now() + 60_000;
    for (;;) {
      const c = new pg.Client({ connectionString: url('pgvigil_test', 'test-password', 'postgres') });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.end();
        break;
      } catch {
        await c.end().catch(() => {});
        assert.ok(
          Date.now() < ready && postmaster.exitCode === null,
          `PostgreSQL did not start: ${readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-2000)}`,
        );
        await sleep(100);
      }
    }

    // The events, each in both destinations.
    const bad = new pg.Client({ connectionString: url('bob', 'wrong-password', 'app') });
    await assert.rejects(bad.connect(), /password authentication failed/);
    await bad.end().catch(() => {});
    const bob = new pg.Client({ connectionString: url('bob', 'right-password', 'app') });
    await bob.connect();
    await assert.rejects(
      bob.query('SELECT 1/0\n  FROM generate_series(1,2)\n\tWHERE true'),
      /division by zero/,
    );
    await assert.rejects(bob.query('SELECT * FROM missing'), /does not exist/);
    await assert.rejects(bob.query(longStatement), /division by zero/);
    await bob.query('SELECT pg_sleep(0.1)');
    await bob.end();
    const su = new pg.Client({ connectionString: url('pgvigil_test', 'test-password', 'postgres') });
    await su.connect();
    await su.query('CHECKPOINT');
    await su.query("DO $$ BEGIN RAISE LOG 'pgvigil end marker'; END $$");
    await su.end();
    await waitForText(join(dir, 'stderr.log'), 'pgvigil end marker', 'the end marker');
    for (const f of ['traditional', 'rfc3164', 'iso', 'rfc5424']) {
      await waitForText(join(dir, `${f}.log`), 'pgvigil end marker', 'the end marker');
    }
  });

  after(async () => {
    if (postmaster?.pid !== undefined && postmaster.exitCode === null) {
      const exited = new Promise((r) => postmaster!.once('exit', r));
      postmaster.kill('SIGINT');
      await Promise.race([exited, sleep(30_000)]);
    }
    if (rsyslog?.pid !== undefined && rsyslog.exitCode === null) {
      const exited = new Promise((r) => rsyslog!.once('exit', r));
      rsyslog.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const stderrEntries = () => parseText(readFileSync(join(dir, 'stderr.log'), 'utf8'), 'postgresql');

  test('the_stderr_log_has_the_events', () => {
    const entries = stderrEntries();
    const events = new Set(entries.map((e) => e.context.event));
    for (const ev of ['auth_failed', 'checkpoint_complete', 'connection_authorized', 'slow_statement']) {
      assert.ok(events.has(ev), `stderr has ${ev}; saw ${[...events].join(', ')}`);
    }
    const multi = entries.find(
      (e) => e.message === 'division by zero' && String(e.context.statement).includes('FROM'),
    );
    assert.equal(multi?.context.statement, 'SELECT 1/0\n  FROM generate_series(1,2)\n\tWHERE true');
  });

  test('rsyslog_wrote_numbered_chunks_tab_escapes_and_cut_lines', () => {
    const text = readFileSync(join(dir, 'traditional.log'), 'utf8');
    assert.match(text, / postgres\[\d+\]: \[\d+-2\] /, 'a second line of one message ([N-2])');
    assert.match(text, /\[\d+-\d+\] #011/, 'a tab-indented line as rsyslog escapes it');
    assert.match(text, /\[\d+-\d+\] {2}word\d+ /, 'a line cut at 900 bytes, continued in the next chunk');
  });

  for (const file of ['traditional', 'rfc3164', 'iso', 'rfc5424']) {
    test(`the_${file}_syslog_file_gives_the_same_entries_as_stderr`, () => {
      const fromSyslog = parseText(readFileSync(join(dir, `${file}.log`), 'utf8'), 'postgresql_syslog');
      const fromStderr = stderrEntries();
      assert.deepEqual(countByEvent(fromSyslog), countByEvent(fromStderr));
      assert.deepEqual(comparable(fromSyslog), comparable(fromStderr));
      const long = fromSyslog.find((e) => String(e.context.statement).startsWith("SELECT 'word0"));
      assert.equal(uncut(long?.context.statement), longStatement);
      assert.ok(
        fromSyslog.every((e) => !e.context.unparsed),
        'no line left unparsed',
      );
      assert.ok(
        fromSyslog.some((e) => e.context.syslog_host),
        'the syslog host is kept',
      );
    });
  }
});
