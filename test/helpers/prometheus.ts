/**
 * Prometheus-side helpers for tests: a parser for the text exposition format, a node_exporter started on
 * a free loopback port, and the rule for Debian tools (skip with a visible reason when run by hand
 * without them; fail in CI, which installs them).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface ParsedMetric {
  name: string;
  type?: string;
  help?: string;
  samples: Sample[];
}

function parseValue(s: string): number {
  if (s === '+Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (s === 'NaN') return Number.NaN;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`not a sample value: ${s}`);
  return v;
}

/** Parses the text format (0.0.4) into metrics by name. Throws on a line it cannot read. */
export function parsePromText(text: string): Map<string, ParsedMetric> {
  const out = new Map<string, ParsedMetric>();
  const get = (name: string): ParsedMetric => {
    let m = out.get(name);
    if (!m) {
      m = { name, samples: [] };
      out.set(name, m);
    }
    return m;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') get(meta[2]!).type = meta[3];
      else get(meta[2]!).help = meta[3];
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`cannot parse exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[2] ?? '').matchAll(re)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    get(m[1]!).samples.push({ labels, value: parseValue(m[3]!) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function sampleValue(
  metrics: Map<string, ParsedMetric>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const m = metrics.get(name);
  assert.ok(m, `no metric ${name}`);
  const hits = m.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `${name}${JSON.stringify(labels)}: ${hits.length} samples`);
  return hits[0]!.value;
}

/**
 * True when a Debian tool is installed. Otherwise the test is skipped with the command that installs it,
 * or — under CI=true, where .ci/run installs it — fails.
 */
export function requireTool(t: TestContext, path: string, aptPackage: string): boolean {
  if (existsSync(path)) return true;
  const message = `${path} not installed: apt-get install ${aptPackage}`;
  if (process.env.CI === 'true')
    assert.fail(`${message} (CI installs it; the test must not be skipped there)`);
  t.skip(message);
  return false;
}

export const nodeExporterPath = '/usr/bin/prometheus-node-exporter';
export const promtoolPath = '/usr/bin/promtool';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface NodeExporter {
  url: string;
  scrape(): Promise<Map<string, ParsedMetric>>;
  stop(): Promise<void>;
}

/** Starts Debian's node_exporter on a free 127.0.0.1 port and waits until it answers. */
export async function startNodeExporter(): Promise<NodeExporter> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(nodeExporterPath, [`--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const url = `http://127.0.0.1:${port}/metrics`;
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        if ((await fetch(url)).ok) {
          ready = true;
          break;
        }
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    };
    if (ready) {
      return { url, scrape: async () => parsePromText(await (await fetch(url)).text()), stop };
    }
    await stop();
    // The free port can be taken between finding and binding it: try another one.
    if (attempt === 3) throw new Error(`node_exporter did not start: ${stderr}`);
  }
}
