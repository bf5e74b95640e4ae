/**
 * Log parsing throughput: `pgvigil logs parse --parser postgresql` against `pgbadger -j 1` on the same
 * real PostgreSQL log, in lines per second of CPU time (user + system of the whole process, so start-up,
 * GC threads and output count too).
 *
 * The log is made by a real server: the embedded PostgreSQL 18 with log_min_duration_statement = 0 (every
 * statement logged with its duration), connections, checkpoints and autovacuum logged, under a pgbench
 * TPC-B load. It is kept in /tmp/pgvigil-bench-logs/ and reused while it has at least the lines asked for.
 *
 * Run: npm run build && node dist/bench/log-parse.js [lines=1500000] [runs=3]
 * pgbadger writes its report to a file in that folder: never give it /dev/null, it unlinks its output
 * file before writing and would replace the device with a regular file.
 * Needs Debian's pgbench (/usr/lib/postgresql/15/bin/pgbench) and pgbadger (apt-get install pgbadger).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { defaultLogLinePrefix } from '../src/agent/logs/parsers/postgres.js';
import { silentLogger } from '../src/log.js';
import { startCluster } from '../src/storage/cluster.js';
import { embeddedBinDir } from '../src/storage/embedded.js';
import { packageRoot } from '../src/version.js';

const execFileAsync = promisify(execFile);
const pgbench = '/usr/lib/postgresql/15/bin/pgbench';
const wantedLines = Number(process.argv[2] ?? 1_500_000);
const runs = Number(process.argv[3] ?? 3);
const workDir = '/tmp/pgvigil-bench-logs';
const logFile = join(workDir, 'postgresql.log');
const metaFile = join(workDir, 'meta.json');
const prefix = defaultLogLinePrefix;

interface Meta {
  lines: number;
  bytes: number;
  server: string;
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path)) {
    const b = chunk as Buffer;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  }
  return n;
}

async function generate(): Promise<Meta> {
  if (!existsSync(pgbench)) throw new Error(`${pgbench} is missing (apt-get install postgresql-15)`);
  await rm(workDir, { recursive: true, force: true });
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

function best(command: string): Timing {
  let b: Timing | undefined;
  for (let i = 0; i < runs; i++) {
    const t = timed(command);
    if (!b || t.user + t.sys < b.user + b.sys) b = t;
  }
  return b!;
}

async function main(): Promise<void> {
  if (spawnSync('pgbadger', ['--version']).status !== 0)
    throw new Error('pgbadger is missing (apt-get install pgbadger)');
  let meta: Meta | undefined;
  if (existsSync(metaFile)) meta = JSON.parse(await readFile(metaFile, 'utf8')) as Meta;
  if (!meta || meta.lines < wantedLines * 0.95) meta = await generate();
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const ours = `node ${q(join(packageRoot, 'bin', 'pgvigil.js'))} logs parse --parser postgresql --prefix ${q(prefix)} < ${q(logFile)} > /dev/null`;
  // pgbadger replaces its output file by rename: never point it at /dev/null (it would replace the device).
  const badgerOut = join(tmpdir(), `pgvigil-bench-pgbadger-${process.pid}.txt`);
  const badger = `pgbadger -j 1 -q -f stderr -p ${q(prefix)} -x text -o ${q(badgerOut)} ${q(logFile)}`;
  const a = best(ours);
  const b = best(badger);
  await rm(badgerOut, { force: true });
  const rate = (t: Timing) => meta!.lines / (t.user + t.sys);
  const mb = (meta.bytes / 1024 / 1024).toFixed(0);
  const rows = [
    ['pgvigil logs parse --parser postgresql', a],
    ['pgbadger -j 1', b],
  ] as const;
  process.stdout.write(
    `log: ${meta.lines} lines, ${mb} MiB, ${meta.server}, log_min_duration_statement = 0, pgbench TPC-B\n` +
      `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}; best of ${runs} runs\n\n` +
      '| tool | CPU s (user+sys) | wall s | lines per CPU-second |\n| --- | --- | --- | --- |\n',
  );
  for (const [name, t] of rows) {
    process.stdout.write(
      `| ${name} | ${(t.user + t.sys).toFixed(2)} | ${t.real.toFixed(2)} | ${Math.round(rate(t)).toLocaleString('en-US')} |\n`,
    );
  }
  process.stdout.write(`\nratio: ${(rate(a) / rate(b)).toFixed(1)}× pgbadger (goal ≥ 10×)\n`);
}

await main();
