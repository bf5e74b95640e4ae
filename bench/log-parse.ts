/**
 * Log parsing throughput: `pgvigil logs parse --parser postgresql` against `pgbadger -j 1` on two real
 * PostgreSQL logs, in MB and lines per second of CPU time (user + system of the whole process, so start-up,
 * GC threads and output count too), median of the runs, the tools taking turns so that other load on the
 * machine falls on all of them alike.
 *
 * The two logs, both written by the embedded PostgreSQL 18 and kept in /tmp/pgvigil-bench-logs/ (reused
 * while big enough):
 * - durations: log_min_duration_statement = 0 (every statement logged with its duration), connections,
 *   checkpoints and autovacuum logged, under a pgbench TPC-B load: almost all one-line entries;
 * - events: multi-line entries (ERROR with DETAIL / HINT / CONTEXT / STATEMENT, multi-line statements,
 *   lock waits, deadlocks, auth failures, autovacuum and checkpoint reports), see log-corpus-events.ts.
 *
 * Each tool also parses the log's first eighth (cut at a line end) in the same turns: what the rest of the
 * log adds, per MiB, is the cost of parsing past start-up and warm-up — the rate a tailing agent runs at,
 * which a one-shot run of a short log hides under node's start (~0.2 CPU-s) and pgbadger's.
 *
 * Run: npm run build && node dist/bench/log-parse.js [lines=300000] [runs=5] [event-MiB=48] [baseline-dir]
 * With a baseline dir (another checkout, built), its `bin/pgvigil.js` is measured in the same turns: a
 * before/after on the same machine in the same run.
 * pgbadger writes its report to a file in that folder: never give it /dev/null, it unlinks its output
 * file before writing and would replace the device with a regular file.
 * Needs Debian's pgbench (/usr/lib/postgresql/15/bin/pgbench) and pgbadger (apt-get install pgbadger).
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { defaultLogLinePrefix } from '../src/agent/logs/parsers/postgres.js';
import { silentLogger } from '../src/log.js';
import { startCluster } from '../src/storage/cluster.js';
import { embeddedBinDir } from '../src/storage/embedded.js';
import { packageRoot } from '../src/version.js';
import { type CorpusMeta, countLines, recordEventLog } from './log-corpus-events.js';

const execFileAsync = promisify(execFile);
const pgbench = '/usr/lib/postgresql/15/bin/pgbench';
const wantedLines = Number(process.argv[2] ?? 300_000);
const runs = Number(process.argv[3] ?? 5);
const eventMiB = Number(process.argv[4] ?? 48);
const baselineDir = process.argv[5];
const workDir = '/tmp/pgvigil-bench-logs';
const logFile = join(workDir, 'postgresql.log');
const metaFile = join(workDir, 'meta.json');
const eventLogFile = join(workDir, 'events.log');
const eventMetaFile = join(workDir, 'events-meta.json');
const prefix = defaultLogLinePrefix;

type Meta = CorpusMeta;

async function generate(): Promise<Meta> {
  if (!existsSync(pgbench)) throw new Error(`${pgbench} is missing (apt-get install postgresql-15)`);
  await mkdir(workDir, { recursive: true });
  await chmod(workDir, 0o755);
  const pgdata = join(workDir, 'pgdata');
  const cluster = await startCluster({
    binDir: await embeddedBinDir(),
    pgdata,
    superuser: 'bench',
    password: 'bench-pw',
    logFile: join(workDir, 'server.log'),
    runAsUser: 'pgvigil',
    settings: {
      logging_collector: 'on',
      log_directory: 'log',
      log_filename: 'postgresql-%Y-%m-%d_%H%M%S.log',
      log_rotation_size: '0',
      log_file_mode: '0644',
      log_line_prefix: prefix,
      log_min_duration_statement: '0',
      log_connections: 'on',
      log_disconnections: 'on',
      log_checkpoints: 'on',
      log_autovacuum_min_duration: '0',
      log_lock_waits: 'on',
      log_temp_files: '0',
      fsync: 'off',
      synchronous_commit: 'off',
    },
    log: silentLogger(),
  });
  try {
    const env = { ...process.env, PGPASSWORD: 'bench-pw' };
    const conn = ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'bench'];
    await execFileAsync(pgbench, [...conn, '-i', '-s', '10', 'postgres'], { env });
    // TPC-B: 7 statements, so 7 logged lines per transaction.
    const clients = 4;
    const perClient = Math.ceil(wantedLines / 7 / clients);
    process.stderr.write(`generating ~${wantedLines} log lines: pgbench -c ${clients} -t ${perClient}…\n`);
    await execFileAsync(
      pgbench,
      [...conn, '-c', String(clients), '-j', '2', '-t', String(perClient), 'postgres'],
      {
        env,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const { stdout } = await execFileAsync('psql', [...conn, '-Atc', 'SHOW server_version', 'postgres'], {
      env,
    }).catch(() => ({ stdout: 'unknown' }));
    await cluster.stop();
    const logDir = join(pgdata, 'log');
    const files = readdirSync(logDir)
      .filter((f) => f.endsWith('.log'))
      .sort();
    const out = createWriteStream(logFile);
    for (const f of files) await pipeline(createReadStream(join(logDir, f)), out, { end: false });
    out.end();
    await new Promise<void>((r) => out.on('close', () => r()));
    await rm(pgdata, { recursive: true, force: true });
    const meta: Meta = {
      lines: await countLines(logFile),
      bytes: statSync(logFile).size,
      server: `PostgreSQL ${stdout.trim()}`,
      workload: 'log_min_duration_statement = 0, pgbench TPC-B',
    };
    await writeFile(metaFile, JSON.stringify(meta));
    return meta;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

interface Timing {
  user: number;
  sys: number;
  real: number;
}

/** Runs a shell command under bash's `time` and returns the CPU and wall seconds it took. */
function timed(command: string): Timing {
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%3U %3S %3R'; time (${command})`], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [user, sys, real] = last.split(' ').map(Number);
  if (r.status !== 0 || user === undefined || Number.isNaN(user)) {
    throw new Error(`command failed (${r.status}): ${command}\n${r.stderr.slice(-2000)}`);
  }
  return { user, sys: sys ?? 0, real: real ?? 0 };
}

const cpu = (t: Timing) => t.user + t.sys;

function median(ts: Timing[]): Timing {
  const sorted = [...ts].sort((a, b) => cpu(a) - cpu(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

interface Tool {
  name: string;
  command(log: string): string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function pgvigilTool(name: string, root: string): Tool {
  return {
    name,
    command: (log) =>
      `node ${q(join(root, 'bin', 'pgvigil.js'))} logs parse --parser postgresql --prefix ${q(prefix)} < ${q(log)} > /dev/null`,
  };
}

async function corpus(
  file: string,
  metaPath: string,
  make: () => Promise<Meta>,
  enough: (m: Meta) => boolean,
) {
  let meta: Meta | undefined;
  if (existsSync(metaPath) && existsSync(file)) meta = JSON.parse(await readFile(metaPath, 'utf8')) as Meta;
  if (!meta || !enough(meta)) {
    meta = await make();
    await writeFile(metaPath, JSON.stringify(meta));
  }
  return meta;
}

/** A copy of the log's first `fraction` of bytes, cut after the last newline there; its size in bytes. */
async function headOf(file: string, fraction: number): Promise<{ path: string; bytes: number }> {
  const path = `${file}.head`;
  const want = Math.floor(statSync(file).size * fraction);
  const probe = Buffer.alloc(64 * 1024);
  const from = Math.max(0, want - probe.length);
  const fd = openSync(file, 'r');
  let cut = want;
  try {
    const nl = probe.subarray(0, readSync(fd, probe, 0, probe.length, from)).lastIndexOf(10);
    if (nl >= 0) cut = from + nl + 1;
  } finally {
    closeSync(fd);
  }
  await copyFile(file, path);
  await truncate(path, cut);
  return { path, bytes: cut };
}

const headFraction = 1 / 8;

async function main(): Promise<void> {
  if (spawnSync('pgbadger', ['--version']).status !== 0)
    throw new Error('pgbadger is missing (apt-get install pgbadger)');
  const durations = await corpus(logFile, metaFile, generate, (m) => m.lines >= wantedLines * 0.95);
  const events = await corpus(
    eventLogFile,
    eventMetaFile,
    async () => {
      process.stderr.write(`recording an event-rich log of ${eventMiB} MiB…\n`);
      return recordEventLog(workDir, eventLogFile, eventMiB * 1048576, prefix);
    },
    (m) => m.bytes >= eventMiB * 1048576 * 0.95,
  );
  // pgbadger replaces its output file by rename: never point it at /dev/null (it would replace the device).
  const badgerOut = join(tmpdir(), `pgvigil-bench-pgbadger-${process.pid}.txt`);
  const tools: Tool[] = [pgvigilTool('pgvigil logs parse --parser postgresql', packageRoot)];
  if (baselineDir) tools.push(pgvigilTool(`baseline (${baselineDir})`, baselineDir));
  tools.push({
    name: 'pgbadger -j 1 -f stderr -x text',
    command: (log) => `pgbadger -j 1 -q -f stderr -p ${q(prefix)} -x text -o ${q(badgerOut)} ${q(log)}`,
  });
  const load: number[] = [loadavg()[0]!];
  process.stdout.write(
    `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}; median of ${runs} runs, tools in turn\n`,
  );
  for (const [label, file, meta] of [
    ['durations', logFile, durations],
    ['events', eventLogFile, events],
  ] as const) {
    const head = await headOf(file, headFraction);
    const times: Timing[][] = tools.map(() => []);
    const headTimes: Timing[][] = tools.map(() => []);
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < tools.length; i++) {
        times[i]!.push(timed(tools[i]!.command(file)));
        headTimes[i]!.push(timed(tools[i]!.command(head.path)));
      }
      load.push(loadavg()[0]!);
    }
    await rm(badgerOut, { force: true });
    await rm(head.path, { force: true });
    const mib = meta.bytes / 1048576;
    const restMiB = (meta.bytes - head.bytes) / 1048576;
    process.stdout.write(
      `\n### ${label}: ${meta.lines.toLocaleString('en-US')} lines, ${mib.toFixed(1)} MiB, ${meta.server}, ${meta.workload}\n\n` +
        `| tool | CPU s (median) | CPU s (min–max) | wall s (median run) | MiB per CPU-second | lines per CPU-second | first ${(head.bytes / 1048576).toFixed(1)} MiB: CPU s (median) | the other ${restMiB.toFixed(1)} MiB: MiB per CPU-second |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n`,
    );
    const medians = times.map(median);
    const headMedians = headTimes.map(median);
    // CPU-seconds a MiB past the head: the median whole run less the median run on the head.
    const perMiB = medians.map((m, i) => (cpu(m) - cpu(headMedians[i]!)) / restMiB);
    tools.forEach((t, i) => {
      const m = medians[i]!;
      const all = times[i]!.map(cpu);
      process.stdout.write(
        `| ${t.name} | ${cpu(m).toFixed(2)} | ${Math.min(...all).toFixed(2)}–${Math.max(...all).toFixed(2)} | ${m.real.toFixed(2)} | ${(mib / cpu(m)).toFixed(1)} | ${Math.round(meta.lines / cpu(m)).toLocaleString('en-US')} | ${cpu(headMedians[i]!).toFixed(2)} | ${(1 / perMiB[i]!).toFixed(1)} |\n`,
      );
    });
    if (baselineDir) {
      // The same entries, byte for byte, from the build measured and the baseline.
      const a = join(workDir, 'out-measured.ndjson');
      const b = join(workDir, 'out-baseline.ndjson');
      timed(`${tools[0]!.command(file).replace('> /dev/null', `> ${q(a)}`)}`);
      timed(`${tools[1]!.command(file).replace('> /dev/null', `> ${q(b)}`)}`);
      const same = spawnSync('cmp', ['-s', a, b]).status === 0;
      process.stdout.write(
        `\noutput of the build measured and of the baseline: ${same ? 'identical' : 'DIFFERENT'} (${statSync(a).size.toLocaleString('en-US')} bytes)\n`,
      );
      await rm(a, { force: true });
      await rm(b, { force: true });
    }
    const badger = cpu(medians.at(-1)!);
    process.stdout.write(
      `\nratio: ${(badger / cpu(medians[0]!)).toFixed(1)}× pgbadger (goal ≥ 10×) over the whole run; past the first ${(head.bytes / 1048576).toFixed(1)} MiB: ${(perMiB.at(-1)! / perMiB[0]!).toFixed(1)}×`,
    );
    if (baselineDir)
      process.stdout.write(
        `; baseline ${(badger / cpu(medians[1]!)).toFixed(1)}× pgbadger, after/before CPU ${(cpu(medians[0]!) / cpu(medians[1]!)).toFixed(2)}`,
      );
    process.stdout.write('\n');
  }
  process.stdout.write(
    `\nload average (1 min) during the runs: ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)}\n`,
  );
}

await main();
