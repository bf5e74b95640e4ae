/**
 * `pgvigil up`'s first start, as a user runs it: a fresh data directory, then GET /api/v1/health every
 * 20 ms until it answers 200. Reports the time to that first 200, the `up` process's CPU (user + sys from
 * /proc, the store's not included) up to then, and when the start-up's steps were logged (debug log):
 * PostgreSQL ready, store connected, last migration applied, dashboard loaded (the app built), brotli done.
 *
 * `--against DIR` takes turns with another checkout's build (DIR/bin/pgvigil.js), in the same run, the
 * order alternating from one round to the next; the load average is printed with each start.
 *
 * Run: npm run build && node dist/bench/up-start.js [--runs 5] [--against /path/to/other/checkout]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/storage/cluster.js';
import { packageRoot } from '../src/version.js';

interface Start {
  healthMs: number;
  cpuMs: number;
  load: string;
  steps: Record<string, number | undefined>;
}

const steps: Record<string, string> = {
  'PostgreSQL server ready': 'pg ready',
  'store connected': 'connected',
  'migration applied': 'migrated',
  'dashboard loaded': 'app built',
  'dashboard compressed with brotli': 'brotli done',
};

function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function firstStart(root: string): Promise<Start> {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-up-bench-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'pgvigil.js'), 'up', '--data-dir', join(dir, 'data'), '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGVIGIL_LOG_LEVEL: 'debug' } },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    let healthMs: number | undefined;
    let cpuMs = 0;
    while (healthMs === undefined) {
      if (Date.now() - t0 > 60_000) throw new Error(`no answer in 60 s: ${out.slice(-500)}`);
      if (child.exitCode !== null) throw new Error(`up exited (${child.exitCode}): ${out.slice(-500)}`);
      const ok = await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) {
        healthMs = Date.now() - t0;
        cpuMs = cpuMsOf(child.pid!);
      } else {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;
    // A moment for brotli's line, which comes after the first answer.
    await new Promise((r) => setTimeout(r, 1000));
    const at: Record<string, number | undefined> = {};
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const j = JSON.parse(line) as { msg?: string; time?: number };
      const step = j.msg === undefined ? undefined : steps[j.msg];
      if (step !== undefined && j.time !== undefined) {
        // The last migration's line for "migrated", the first line for the others.
        if (step === 'migrated' || at[step] === undefined) at[step] = j.time - t0;
      }
    }
    return { healthMs, cpuMs, load, steps: at };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  const runs = Number(opt('--runs') ?? 5);
  const against = opt('--against');
  const builds: Array<[string, string]> = [['this', packageRoot]];
  if (against) builds.push(['against', against]);
  const results = new Map<string, Start[]>(builds.map(([name]) => [name, []]));
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? builds : [...builds].reverse();
    for (const [name, root] of order) {
      const s = await firstStart(root);
      results.get(name)!.push(s);
      const stepText = Object.entries(s.steps)
        .map(([k, v]) => `${k} ${v ?? '-'}`)
        .join(', ');
      console.log(
        `${name.padEnd(7)} health ${s.healthMs} ms, CPU ${s.cpuMs} ms, load ${s.load} (${stepText})`,
      );
    }
  }
  for (const [name, starts] of results) {
    console.log(
      `${name.padEnd(7)} median of ${starts.length}: health ${median(starts.map((s) => s.healthMs))} ms, ` +
        `up process CPU ${median(starts.map((s) => s.cpuMs))} ms, connected → health ` +
        `${median(starts.map((s) => s.healthMs - (s.steps.connected ?? 0)))} ms`,
    );
  }
}

await main();
