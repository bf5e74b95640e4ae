/**
 * The quiet-when-healthy check: `pgvigil up` on this host (its agent watching the host, its processes and
 * the embedded store's PostgreSQL) for N minutes, then every finding it made, by severity. A healthy, idle
 * host and database must produce nothing above info; the exit status is 1 when it did.
 *
 * Run: npm run build && node dist/bench/idle-findings.js [--minutes 10]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/storage/cluster.js';
import { packageRoot } from '../src/version.js';
import { arg } from './args.js';

interface Finding {
  check: string;
  object: string;
  severity: string;
  state: string;
  title: string;
  targetName: string | null;
}

async function main(): Promise<void> {
  const minutes = Number(arg('minutes', '10'));
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-idle-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(packageRoot, 'bin', 'pgvigil.js'), 'up', '--port', String(port), '--data-dir', dir],
    {
      env: {
        ...process.env,
        PGVIGIL_LOG_LEVEL: 'warn',
        PGVIGIL_SECRET_KEY: Buffer.alloc(32, 1).toString('base64'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += String(d);
  });
  let code = 0;
  try {
    const deadline = Date.now() + 120_000;
    while (!/local agent/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`pgvigil up did not start:\n${out}`);
      await sleep(200);
    }
    const password = /with password (\S+)/.exec(out)?.[1];
    const base = `http://127.0.0.1:${port}`;
    const login = async () => {
      const res = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'admin', password }),
      });
      if (!res.ok) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
      return { authorization: `Bearer ${((await res.json()) as { accessToken: string }).accessToken}` };
    };
    const findings = async (): Promise<Finding[]> => {
      const res = await fetch(`${base}/api/v1/findings?limit=500`, { headers: await login() });
      return ((await res.json()) as { findings: Finding[] }).findings;
    };
    const started = Date.now();
    for (let m = 1; m <= minutes; m++) {
      await sleep(started + m * 60_000 - Date.now());
      const list = await findings();
      const by = (s: string) => list.filter((f) => f.severity === s).length;
      console.log(
        `${m} min: ${list.length} findings (info ${by('info')}, warning ${by('warning')}, critical ${by('critical')})`,
      );
    }
    const list = await findings();
    for (const f of list) {
      console.log(
        `  ${f.severity.padEnd(8)} ${f.state.padEnd(12)} ${f.check} ${f.targetName ?? ''} ${f.object} — ${f.title}`,
      );
    }
    const loud = list.filter((f) => f.severity !== 'info');
    console.log(`above info over ${minutes} min of an idle host: ${loud.length}`);
    if (loud.length > 0) code = 1;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(code);
}

await main();
