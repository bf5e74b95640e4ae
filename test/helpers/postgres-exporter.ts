/**
 * Debian's postgres_exporter (package prometheus-postgres-exporter), started on a free loopback port for
 * tests that compare our PostgreSQL metrics with its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { sleep } from './pg-cluster.js';
import { freePort, type ParsedMetric, parsePromText } from './prometheus.js';

export const exporterPath = '/usr/bin/prometheus-postgres-exporter';

/** Debian's postgres_exporter on a free loopback port, scraping `dsn`. */
export async function startExporter(
  dsn: string,
): Promise<{ scrape(): Promise<Map<string, ParsedMetric>>; stop(): Promise<void> }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(exporterPath, [`--web.listen-address=127.0.0.1:${port}`], {
      // lib/pq asks for TLS by default; the test cluster has none
      env: { ...process.env, DATA_SOURCE_NAME: `${dsn}?sslmode=disable` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const url = `http://127.0.0.1:${port}/metrics`;
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        if ((await fetch(url)).ok)
          return { scrape: async () => parsePromText(await (await fetch(url)).text()), stop };
      } catch {
        await sleep(50);
      }
    }
    await stop();
    if (attempt === 3) throw new Error(`postgres_exporter did not start: ${stderr}`);
  }
}
