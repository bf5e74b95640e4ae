/**
 * The agent under a log flood: does it stay inside its memory budget and count what it drops?
 *
 * Starts `pgvigil up` (embedded store) and a real `pgvigil agent` child shipping to it and following one
 * PostgreSQL stderr log file, started as the systemd unit starts it (NODE_OPTIONS with the heap flags of
 * --max-memory, so no second process). Then writes `--mb` MB of PostgreSQL-style log lines into that
 * file over `--seconds` s — statements with durations (few fingerprints), errors naming a different
 * table each time with their STATEMENT line (a new fingerprint each), checkpoints — and samples the
 * agent's /proc/<pid>/status every 200 ms during the flood and the drain after it. It reports peak VmRSS
 * and RssAnon (the part the kernel cannot reclaim: VmRSS also counts node's own code pages, shared and
 * reclaimable), VmHWM, and for the entries written: shipped (rows in the store), dropped (the agent's
 * pgvigil_agent_dropped_log_entries_total) and not read yet when the drain ended (still in the file);
 * and the agent's CPU time over the flood and the drain.
 *
 * Usage: node dist/bench/agent-log-flood.js [--mb 100] [--seconds 60] [--max-memory 48] [--drain 120]
 *        [--json] [--bin path/to/bin/pgvigil.js] [--node-options '…']
 * `--max-memory 0` starts the agent without the flag and, unless --node-options says otherwise, without
 * NODE_OPTIONS; with --bin (another build's bin/pgvigil.js, for `up` and the agent) it measures an
 * older agent the same way.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { heapFlags, memoryBounds } from '../src/agent/memory.js';
import { packageRoot } from '../src/version.js';

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '60' },
    'max-memory': { type: 'string', default: '48' },
    drain: { type: 'string', default: '120' },
    bin: { type: 'string' },
    'node-options': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const totalBytes = Number(args.mb) * 1e6;
const floodMs = Number(args.seconds) * 1000;
const maxMemory = Number(args['max-memory']);
const drainMs = Number(args.drain) * 1000;
if (!(totalBytes > 0) || !(floodMs > 0) || !(maxMemory >= 32 || maxMemory === 0) || !(drainMs >= 0)) {
  process.stderr.write('agent-log-flood: --mb, --seconds > 0, --max-memory 0 or ≥ 32, --drain ≥ 0\n');
  process.exit(2);
}

const bin = args.bin ?? join(packageRoot, 'bin', 'pgvigil.js');
const secretKey = Buffer.alloc(32, 7).toString('base64');
const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (a === null || typeof a === 'string') throw new Error('no free port');
  return a.port;
}

function start(argv: string[], env: Record<string, string>): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [bin, ...argv], {
    env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn', PGVIGIL_SECRET_KEY: secretKey, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  return { child, out: () => out };
}

async function waitFor(p: { child: ChildProcess; out: () => string }, re: RegExp, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(p.out());
    if (m) return m;
    if (p.child.exitCode !== null) throw new Error(`exited before ${re}: ${p.out()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}: ${p.out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(t);
}

interface Mem {
  rss: number;
  anon: number;
  hwm: number;
}

function memOf(pid: number): Mem | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB$`, 'm').exec(s)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** utime + stime of a process, seconds (fields 14 and 15 of proc(5); USER_HZ is 100 on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Letters only: fingerprints normalise numbers away, letters keep each relation name distinct. */
function letters(i: number): string {
  let out = '';
  for (let n = i + 26 * 26; n > 0; n = Math.floor(n / 26)) out = String.fromCharCode(97 + (n % 26)) + out;
  return out;
}

/** One log entry (one or two lines) under PostgreSQL's default prefix '%m [%p] '. */
function entryText(i: number, now: Date): string {
  const ts = `${now.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
  const pid = 10_000 + (i % 500);
  const r = i % 10;
  if (r < 7) {
    return `${ts} [${pid}] LOG:  duration: ${(i % 997) + 0.123} ms  statement: SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${i}\n`;
  }
  if (r < 9) {
    const rel = `tbl_${letters(i)}`;
    return `${ts} [${pid}] ERROR:  permission denied for table ${rel}\n${ts} [${pid}] STATEMENT:  SELECT * FROM ${rel} WHERE id = ${i}\n`;
  }
  return `${ts} [${pid}] LOG:  checkpoint complete: wrote ${i % 4000} buffers (${(i % 100) / 10}%); 0 WAL file(s) added, 0 removed, 1 recycled; write=0.${i % 1000} s, sync=0.001 s, total=0.${i % 1000} s\n`;
}

const work = mkdtempSync(join(tmpdir(), 'pgvigil-flood-'));
chmodSync(work, 0o755); // the embedded PostgreSQL's unprivileged user (when we are root) must reach it
const dataDir = join(work, 'data');
const logFile = join(work, 'postgresql.log');
closeSync(openSync(logFile, 'w'));
const children: ChildProcess[] = [];
/** The agent's output, printed when the bench fails (an agent that died says why there). */
let agentOutput = (): string => '';

try {
  const port = await freePort();
  const up = start(['up', '--data-dir', dataDir, '--port', String(port)], {});
  children.push(up.child);
  const url = (await waitFor(up, /(?:is up|server listening): (http:\/\/\S+)/, 90_000))[1]!;
  const token = (
    await run(process.execPath, [bin, 'token', 'create', '--enroll', '--data-dir', dataDir], {
      env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn', PGVIGIL_SECRET_KEY: secretKey },
    })
  ).stdout.trim();

  const nodeOptions =
    args['node-options'] ?? (maxMemory > 0 ? heapFlags(memoryBounds(maxMemory)).join(' ') : '');
  const metricsPort = await freePort();
  const agent = start(
    [
      'agent',
      '--server',
      url,
      '--enroll-token',
      token,
      '--state-dir',
      join(work, 'agent'),
      '--listen',
      `127.0.0.1:${metricsPort}`,
      '--log-file',
      `postgresql:${logFile}`,
      ...(maxMemory > 0 ? ['--max-memory', String(maxMemory)] : []),
    ],
    { NODE_OPTIONS: nodeOptions },
  );
  children.push(agent.child);
  agentOutput = agent.out;
  await waitFor(agent, /pgvigil agent: /, 30_000);
  const pid = agent.child.pid!;
  const idle = memOf(pid)!;
  const cpu0 = cpuSeconds(pid);

  const store = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
    port: number;
    password: string;
  };
  const db = new pg.Client({
    connectionString: `postgres://pgvigil:${encodeURIComponent(store.password)}@127.0.0.1:${store.port}/pgvigil`,
  });
  // The store stops before this client when the bench ends early: its error must not hide the cause.
  db.on('error', () => {});
  await db.connect();
  // A file present at the agent's very first start is followed from its end, and the agent reads its
  // sources only once log shipping has started: write a marker entry until one reaches the store, so
  // the flood starts once the agent follows the file and every flood entry can be accounted for.
  const markerFd = openSync(logFile, 'a');
  const markerUntil = Date.now() + 60_000;
  for (;;) {
    const ts = `${new Date().toISOString().replace('T', ' ').replace('Z', '')} UTC`;
    writeSync(markerFd, `${ts} [1] LOG:  pgvigil flood bench marker\n`);
    const { rows } = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pgvigil.log_entries WHERE source = 'file_1' AND message LIKE 'pgvigil flood bench marker%'",
    );
    if (Number(rows[0]!.n) > 0) break;
    if (Date.now() > markerUntil) throw new Error(`the agent shipped no marker in 60 s: ${agent.out()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  closeSync(markerFd);
  // Markers written after the first one shipped would count as shipped flood entries: wait for them too.
  await new Promise((r) => setTimeout(r, 1500));
  const { rows: markerRows } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM pgvigil.log_entries WHERE source = 'file_1' AND message NOT LIKE 'pgvigil flood bench marker%'",
  );
  if (Number(markerRows[0]!.n) !== 0) throw new Error('entries other than the markers before the flood');

  let peak: Mem = { ...idle };
  const sample = () => {
    const m = memOf(pid);
    if (!m) return;
    peak = { rss: Math.max(peak.rss, m.rss), anon: Math.max(peak.anon, m.anon), hwm: m.hwm };
  };
  const sampler = setInterval(sample, 200);

  // The flood: bytes written follow a straight line over floodMs, in 100 ms steps.
  const fd = openSync(logFile, 'a');
  let written = 0;
  let entries = 0;
  const t0 = Date.now();
  while (written < totalBytes) {
    const due = Math.min(totalBytes, (totalBytes * (Date.now() - t0)) / floodMs);
    const parts: string[] = [];
    let bytes = 0;
    const now = new Date();
    while (written + bytes < due) {
      const s = entryText(entries++, now);
      parts.push(s);
      bytes += Buffer.byteLength(s);
    }
    if (parts.length > 0) writeSync(fd, parts.join(''));
    written += bytes;
    await new Promise((r) => setTimeout(r, 100));
  }
  closeSync(fd);
  const floodSeconds = (Date.now() - t0) / 1000;

  const counts = async () => {
    const { rows } = await db.query<{ shipped: string; reported: string }>(
      `SELECT count(*) FILTER (WHERE context->>'event' IS DISTINCT FROM 'log_entries_dropped') AS shipped,
              coalesce(sum((context->>'dropped')::bigint) FILTER (WHERE context->>'event' = 'log_entries_dropped'), 0) AS reported
         FROM pgvigil.log_entries WHERE source = 'file_1' AND message NOT LIKE 'pgvigil flood bench marker%'`,
    );
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    let dropped = 0;
    for (const m of text.matchAll(
      /^pgvigil_agent_dropped_log_entries_total\{reason="volume-[a-z]+"\} (\d+)$/gm,
    ))
      dropped += Number(m[1]);
    return { shipped: Number(rows[0]!.shipped), reportedDropped: Number(rows[0]!.reported), dropped };
  };

  // The drain: until every written entry is shipped or dropped and the drops are reported in the store
  // (a report comes when a volume interval of 10 s ends, and ships with the next batch), nothing moved
  // for 30 s, or --drain ran out.
  const d0 = Date.now();
  let last = await counts();
  let lastMove = Date.now();
  const settled = (c: typeof last) => c.shipped + c.dropped >= entries && c.reportedDropped >= c.dropped;
  const moved = (c: typeof last) => c.shipped + c.dropped + c.reportedDropped;
  while (Date.now() - d0 < drainMs && !settled(last) && Date.now() - lastMove < 30_000) {
    await new Promise((r) => setTimeout(r, 2000));
    const c = await counts();
    if (moved(c) !== moved(last)) lastMove = Date.now();
    last = c;
  }
  const drainSeconds = (Date.now() - d0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  clearInterval(sampler);
  sample();
  const alive = agent.child.exitCode === null && agent.child.signalCode === null;
  if (process.env.FLOOD_DEBUG) {
    process.stderr.write(agent.out().slice(-4000));
    const { rows } = await db.query(
      "SELECT fingerprint, context->>'event' AS ev, count(*) FROM pgvigil.log_entries WHERE source = 'file_1' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10",
    );
    process.stderr.write(`${JSON.stringify(rows)}\n`);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    process.stderr.write(
      `${text
        .split('\n')
        .filter((l) => l.startsWith('pgvigil_agent'))
        .join('\n')}\n`,
    );
  }
  await db.end();

  const result = {
    maxMemoryMiB: maxMemory,
    nodeOptions,
    written: { mb: written / 1e6, entries, seconds: floodSeconds },
    agentAlive: alive,
    idleMiB: { rss: idle.rss, anon: idle.anon },
    peakMiB: { rss: peak.rss, anon: peak.anon, hwm: peak.hwm },
    shipped: last.shipped,
    dropped: last.dropped,
    droppedReportedInStore: last.reportedDropped,
    notReadYet: entries - last.shipped - last.dropped,
    drainSeconds,
    cpuSeconds: cpu,
  };
  if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const f = (n: number) => n.toFixed(1);
    process.stdout.write(
      [
        `agent --max-memory ${maxMemory} (NODE_OPTIONS="${result.nodeOptions}")`,
        `flood: ${f(result.written.mb)} MB, ${entries} entries in ${f(floodSeconds)} s`,
        `agent alive at the end: ${alive ? 'yes' : 'NO'}`,
        `RSS idle ${f(idle.rss)} MiB (anon ${f(idle.anon)}); peak VmRSS ${f(peak.rss)} MiB, peak RssAnon ${f(peak.anon)} MiB, VmHWM ${f(peak.hwm)} MiB`,
        `entries shipped ${last.shipped}, dropped ${last.dropped} (reported in the store: ${last.reportedDropped}), not read yet ${result.notReadYet}, after a drain of ${f(drainSeconds)} s`,
        `agent CPU ${f(cpu)} s over the flood and the drain (${f((100 * cpu) / (floodSeconds + drainSeconds))}% of one core)`,
        '',
      ].join('\n'),
    );
  }
} catch (err) {
  process.stderr.write(`agent-log-flood failed; the agent's last output:\n${agentOutput().slice(-6000)}\n`);
  throw err;
} finally {
  for (const c of children.reverse()) await stop(c);
  rmSync(work, { recursive: true, force: true });
}
