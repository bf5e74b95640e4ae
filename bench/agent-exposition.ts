/**
 * The agent's /metrics rendering: our exposition renderer (agent/exporter.ts) side by side with
 * prom-client, on the metrics this machine's agent serves (every collector with defaults and a process
 * watch on `node`, collected twice 1 s apart so rates exist, plus the agent's own process metrics).
 *
 * Each variant runs in a fresh child process, alternating, `--rounds` times:
 * - `ours`: renderExposition(metrics) per scrape, as the exporter does;
 * - `prom-client`: the same metrics copied into a prom-client Registry (one Gauge/Counter per name, reset
 *   and set from the latest results) and `await registry.metrics()` per scrape — what the agent would
 *   have to do, since its values are the collectors' latest results;
 * - `prom-client-render-only`: the registry filled once, `await registry.metrics()` per scrape (a lower
 *   bound for prom-client: values already in place).
 * Reported per variant (median over rounds): CPU (user + system) and wall µs per render, CPU seconds for
 * all renders, RSS after the imports and peak RSS (VmHWM) at the end. CPU is the figure to compare on a
 * shared machine: wall time also counts the time other processes had the cores.
 *
 * Usage: node dist/bench/agent-exposition.js [--renders 10000] [--rounds 3] [--json]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Prom from 'prom-client';

const variants = ['ours', 'prom-client', 'prom-client-render-only'] as const;
type Variant = (typeof variants)[number];

const { values: args } = parseArgs({
  options: {
    renders: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});

interface Figures {
  variant: Variant;
  renders: number;
  metrics: number;
  samples: number;
  bytes: number;
  usPerRender: number;
  cpuUsPerRender: number;
  cpuSeconds: number;
  rssAfterImportMiB: number;
  peakRssMiB: number;
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
function peakRssBytes(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function runChild(variant: Variant, renders: number): Promise<Figures> {
  // Imports first, so that the RSS after them is what loading the renderer costs.
  const { renderExposition, selfExposition } = await import('../src/agent/exporter.js');
  const prom = variant === 'ours' ? undefined : await import('prom-client');
  const rssAfterImport = process.memoryUsage.rss();
  const { createCollectors } = await import('../src/agent/collectors/index.js');
  const { parseProcessWatch } = await import('../src/agent/collectors/process.js');
  const { silentLogger } = await import('../src/log.js');
  type Exposed = import('../src/agent/collectors/types.js').ExposedMetric;

  const latest = new Map<string, Exposed[]>();
  const collectors = createCollectors({ watches: [parseProcessWatch('node')] }).map((g) => g.collector);
  for (let round = 0; round < 2; round++) {
    if (round === 1) await new Promise((r) => setTimeout(r, 1000));
    for (const c of collectors) {
      await c
        .collect({
          procRoot: '/proc',
          sysRoot: '/sys',
          now: Date.now,
          monotonic: () => performance.now(),
          log: silentLogger(),
          signal: new AbortController().signal,
          expose: (m) => latest.set(c.name, m),
        })
        .catch(() => {}); // a collector not applicable here (e.g. no cgroup) serves nothing, as in the agent
    }
  }
  const metrics = (): Exposed[] => [...[...latest.values()].flat(), ...selfExposition('bench')];
  const first = metrics();
  const samples = first.reduce((n, m) => n + m.samples.length, 0);

  let render: () => string | Promise<string>;
  if (prom === undefined) {
    render = () => renderExposition(metrics());
  } else {
    const registry = new prom.Registry();
    const made = new Map<string, Prom.Gauge | Prom.Counter>();
    const fill = (list: Exposed[]) => {
      for (const m of list) {
        let metric = made.get(m.name);
        if (!metric) {
          const labelNames = [...new Set(m.samples.flatMap((s) => Object.keys(s.labels ?? {})))];
          const config = { name: m.name, help: m.help, labelNames, registers: [registry] };
          metric = m.type === 'counter' ? new prom.Counter(config) : new prom.Gauge(config);
          made.set(m.name, metric);
        }
        metric.reset();
        for (const s of m.samples) {
          if (metric instanceof prom.Counter) metric.inc(s.labels ?? {}, s.value);
          else metric.set(s.labels ?? {}, s.value);
        }
      }
    };
    fill(first);
    render =
      variant === 'prom-client'
        ? () => {
            fill(metrics());
            return registry.metrics();
          }
        : () => registry.metrics();
  }
  const sample = await render();
  const bytes = Buffer.byteLength(sample);
  // Same samples either way: count the sample lines.
  const lines = sample.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  if (lines !== samples) throw new Error(`${variant}: ${lines} sample lines for ${samples} samples`);
  for (let i = 0; i < 200; i++) await render(); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < renders; i++) await render();
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    variant,
    renders,
    metrics: first.length,
    samples,
    bytes,
    usPerRender: Math.round((elapsed / renders) * 1000 * 10) / 10,
    cpuUsPerRender: Math.round(((cpu.user + cpu.system) / renders) * 10) / 10,
    cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
    rssAfterImportMiB: mib(rssAfterImport),
    peakRssMiB: mib(peakRssBytes()),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const renders = Number(args.renders);
  const rounds = Number(args.rounds);
  if (args.child) {
    process.stdout.write(JSON.stringify(await runChild(args.child as Variant, renders)));
    return;
  }
  if (!(renders > 0) || !(rounds > 0)) {
    process.stderr.write('agent-exposition: --renders and --rounds must be positive numbers\n');
    process.exit(2);
  }
  const self = fileURLToPath(import.meta.url);
  const runs = new Map<Variant, Figures[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const out = spawnSync(process.execPath, [self, '--child', v, '--renders', String(renders)], {
        encoding: 'utf8',
      });
      if (out.status !== 0) throw new Error(`${v}: ${out.stderr}`);
      runs.get(v)!.push(JSON.parse(out.stdout) as Figures);
    }
  }
  const table = variants.map((v) => {
    const f = runs.get(v)!;
    return {
      ...f[0]!,
      usPerRender: median(f.map((x) => x.usPerRender)),
      cpuUsPerRender: median(f.map((x) => x.cpuUsPerRender)),
      cpuSeconds: median(f.map((x) => x.cpuSeconds)),
      rssAfterImportMiB: median(f.map((x) => x.rssAfterImportMiB)),
      peakRssMiB: median(f.map((x) => x.peakRssMiB)),
    };
  });
  if (args.json) {
    process.stdout.write(`${JSON.stringify(table, null, 1)}\n`);
    return;
  }
  const f0 = table[0]!;
  process.stdout.write(
    `${f0.metrics} metrics, ${f0.samples} samples, ${f0.bytes} bytes per render (ours); ${renders} renders per run, median of ${rounds} runs; ${cpus().length} cores, Node ${process.version}\n`,
  );
  process.stdout.write(
    '| variant | CPU µs per render | wall µs per render | CPU s for all renders | RSS after imports | peak RSS |\n',
  );
  process.stdout.write('| --- | --- | --- | --- | --- | --- |\n');
  for (const f of table) {
    process.stdout.write(
      `| ${f.variant} | ${f.cpuUsPerRender} | ${f.usPerRender} | ${f.cpuSeconds} | ${f.rssAfterImportMiB} MiB | ${f.peakRssMiB} MiB |\n`,
    );
  }
}

await main();
