/**
 * CPU of the process watch alone, per collection, in this process: the process collector of this checkout
 * and, with --against <dir>, the compiled one of another checkout (its dist/), run alternately on the live
 * /proc so both see the same processes. Prints mean and p50 of user + system CPU per collection and the
 * first collections (cold code) of each.
 *
 * Usage: npm run build && node dist/bench/process-watch.js [--watch postgres] [--collections 60]
 *        [--gap-ms 200] [--against /path/to/other/checkout]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Collector } from '../src/agent/collectors/types.js';
import { packageRoot } from '../src/version.js';
import { collectContext } from '../test/helpers/pg-cluster.js';

const { values: args } = parseArgs({
  options: {
    watch: { type: 'string', default: 'postgres' },
    collections: { type: 'string', default: '60' },
    'gap-ms': { type: 'string', default: '200' },
    against: { type: 'string' },
  },
});
const collections = Number(args.collections);
const gapMs = Number(args['gap-ms']);
if (!(collections > 0) || !(gapMs >= 0)) {
  process.stderr.write('process-watch: --collections must be positive and --gap-ms not negative\n');
  process.exit(2);
}

interface ProcessModule {
  createProcessCollector(o: { watches: unknown[] }): Collector;
  parseProcessWatch(spec: string): unknown;
}

async function load(root: string): Promise<Collector> {
  const m = (await import(`${root}/dist/src/agent/collectors/process.js`)) as ProcessModule;
  return m.createProcessCollector({ watches: [m.parseProcessWatch(args.watch)] });
}

const subjects: Array<{ label: string; collector: Collector; cpuMs: number[] }> = [
  { label: 'this checkout', collector: await load(packageRoot), cpuMs: [] },
];
if (args.against) subjects.push({ label: args.against, collector: await load(args.against), cpuMs: [] });
const ctx = collectContext();
const matching: number[] = [];
const loadBefore = loadavg()[0]!;
for (let i = 0; i < collections; i++) {
  // Alternate which runs first, so neither always finds the caches warmed by the other.
  const order = i % 2 === 0 ? subjects : [...subjects].reverse();
  for (const s of order) {
    const c0 = process.cpuUsage();
    const out = await s.collector.collect(ctx);
    const c = process.cpuUsage(c0);
    s.cpuMs.push((c.user + c.system) / 1000);
    if (s === subjects[0]) matching.push(Number(out[0]?.rows[0]?.processes ?? 0));
  }
  await new Promise((r) => setTimeout(r, gapMs));
}
for (const s of subjects) await s.collector.close?.();
const f = (n: number) => n.toFixed(2);
process.stdout.write(
  `watch ${args.watch}: ${Math.min(...matching)}-${Math.max(...matching)} matching processes, ${collections} collections ${gapMs} ms apart; load average ${loadBefore.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}\n`,
);
for (const s of subjects) {
  const sorted = [...s.cpuMs].sort((a, b) => a - b);
  const mean = s.cpuMs.reduce((a, b) => a + b, 0) / s.cpuMs.length;
  process.stdout.write(
    `${s.label}: CPU per collection mean ${f(mean)} ms, p50 ${f(sorted[Math.floor(sorted.length / 2)]!)} ms; first five ${s.cpuMs.slice(0, 5).map(f).join(' ')} ms\n`,
  );
}
