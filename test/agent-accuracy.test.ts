/**
 * Accuracy on the real machine, against Debian's prometheus-node-exporter read at the same moment: our
 * collectors (the code the agent runs, reading the real /proc and statfs) and node_exporter must agree.
 *
 * Counters are bracketed: node_exporter scraped before our read and again after it, so every counter we
 * report must lie between its two values — equal within exactly what the elapsed time explains.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createCpuCollector } from '../src/agent/collectors/host/cpu.js';
import { createDiskCollector } from '../src/agent/collectors/host/disk.js';
import { createFilesystemCollector } from '../src/agent/collectors/host/filesystem.js';
import { createMemoryCollector } from '../src/agent/collectors/host/memory.js';
import { createNetworkCollector } from '../src/agent/collectors/host/network.js';
import { createPressureCollector } from '../src/agent/collectors/host/pressure.js';
import type { CollectContext, Collector, ExposedMetric, FamilyRows } from '../src/agent/collectors/types.js';
import { silentLogger } from '../src/log.js';
import {
  type NodeExporter,
  nodeExporterPath,
  type ParsedMetric,
  requireTool,
  sampleValue,
  startNodeExporter,
} from './helpers/prometheus.js';

let ne: NodeExporter | undefined;

before(async () => {
  if (existsSync(nodeExporterPath)) ne = await startNodeExporter();
});

after(async () => {
  await ne?.stop();
});

/** Runs a collector on the real machine; returns its rows and exposition. */
async function collectReal(c: Collector): Promise<{ rows: FamilyRows[]; exposed: ExposedMetric[] }> {
  let exposed: ExposedMetric[] = [];
  const ctx: CollectContext = {
    procRoot: '/proc',
    sysRoot: '/sys',
    now: Date.now,
    monotonic: () => performance.now(),
    log: silentLogger(),
    signal: new AbortController().signal,
    expose: (m) => {
      exposed = m;
    },
  };
  const rows = await c.collect(ctx);
  return { rows, exposed };
}

function samplesOf(exposed: ExposedMetric[], name: string): ExposedMetric['samples'] {
  return exposed.find((m) => m.name === name)?.samples ?? [];
}

const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string>): boolean =>
  Object.entries(a ?? {}).every(([k, v]) => b[k] === v) &&
  Object.keys(a ?? {}).length === Object.keys(b).length;

/**
 * For every sample of `names` in our exposition whose label set node_exporter also has, checks
 * before ≤ ours ≤ after. Returns how many samples were compared.
 */
function assertBracketed(
  exposed: ExposedMetric[],
  names: string[],
  beforeScrape: Map<string, ParsedMetric>,
  afterScrape: Map<string, ParsedMetric>,
): number {
  let compared = 0;
  for (const name of names) {
    for (const ours of samplesOf(exposed, name)) {
      const b = beforeScrape.get(name)?.samples.find((s) => sameLabels(ours.labels, s.labels));
      const a = afterScrape.get(name)?.samples.find((s) => sameLabels(ours.labels, s.labels));
      if (!b || !a) continue;
      const where = `${name}${JSON.stringify(ours.labels ?? {})}`;
      // node_exporter converts ms with `* 0.001` (29432 ms → 29.432000000000002), we divide (29.432):
      // allow for the last bit of a float, nothing more.
      const eps = 1e-12 * Math.max(1, Math.abs(ours.value));
      assert.ok(
        b.value - eps <= ours.value && ours.value <= a.value + eps,
        `${where}: node_exporter ${b.value} … ${a.value}, ours ${ours.value}`,
      );
      compared++;
    }
  }
  return compared;
}

test('memory_total_equals_node_exporters', async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter') || !ne) return;
  const theirs = await ne.scrape();
  const { rows, exposed } = await collectReal(createMemoryCollector({ nodeExporterNames: true }));
  const total = rows[0]!.rows[0]!.total_bytes;
  assert.equal(total, sampleValue(theirs, 'node_memory_MemTotal_bytes'));
  assert.equal(samplesOf(exposed, 'node_memory_MemTotal_bytes')[0]!.value, total);
  assert.equal(
    samplesOf(exposed, 'node_memory_SwapTotal_bytes')[0]!.value,
    sampleValue(theirs, 'node_memory_SwapTotal_bytes'),
  );
});

test('filesystem_sizes_equal_node_exporters', async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter') || !ne) return;
  const theirs = await ne.scrape();
  const { rows, exposed } = await collectReal(createFilesystemCollector());
  const ours = new Map(rows[0]!.rows.map((r) => [r.mountpoint as string, r]));
  const sizes = theirs.get('node_filesystem_size_bytes')!.samples;
  const common = sizes.filter((s) => ours.has(s.labels.mountpoint!));
  assert.ok(
    common.some((s) => s.labels.mountpoint === '/'),
    'both report the root filesystem',
  );
  for (const s of common) {
    const mp = s.labels.mountpoint!;
    assert.equal(ours.get(mp)!.size_bytes, s.value, `size of ${mp}`);
    assert.equal(
      ours.get(mp)!.inodes_total,
      sampleValue(theirs, 'node_filesystem_files', { mountpoint: mp }),
      `inodes of ${mp}`,
    );
    const exposedSize = samplesOf(exposed, 'node_filesystem_size_bytes').find(
      (x) => x.labels?.mountpoint === mp,
    );
    assert.deepEqual(exposedSize?.labels, s.labels, `same labels for ${mp}`);
  }
});

test('cpu_count_equals_node_exporters', async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter') || !ne) return;
  const theirs = await ne.scrape();
  const { rows } = await collectReal(createCpuCollector());
  const ourCores = rows[0]!.rows.filter((r) => r.cpu !== 'total').length;
  const theirCores = new Set(theirs.get('node_cpu_seconds_total')!.samples.map((s) => s.labels.cpu)).size;
  assert.equal(ourCores, theirCores);
});

test('cpu_disk_network_and_pressure_counters_equal_node_exporters_within_the_elapsed_time', async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter') || !ne) return;
  const collectors = [
    createCpuCollector(),
    createDiskCollector(),
    createNetworkCollector(),
    createPressureCollector(),
  ];
  const beforeScrape = await ne.scrape();
  const exposed: ExposedMetric[] = [];
  for (const c of collectors) {
    try {
      exposed.push(...(await collectReal(c)).exposed);
    } catch (err) {
      if (c.name !== 'pressure') throw err; // a kernel without PSI has nothing to compare
    }
  }
  const afterScrape = await ne.scrape();
  const counters = exposed.filter((m) => m.type === 'counter' && afterScrape.has(m.name)).map((m) => m.name);
  for (const must of [
    'node_cpu_seconds_total',
    'node_disk_read_bytes_total',
    'node_disk_written_bytes_total',
    'node_disk_reads_completed_total',
    'node_disk_io_time_seconds_total',
    'node_network_receive_bytes_total',
    'node_network_transmit_packets_total',
  ]) {
    assert.ok(counters.includes(must), `${must} is exposed by both`);
  }
  const compared = assertBracketed(exposed, counters, beforeScrape, afterScrape);
  assert.ok(compared >= 30, `compared ${compared} counters`);
});

test('cpu_busy_share_is_within_5_points_of_node_exporters_over_the_same_window', async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter') || !ne) return;
  // Some load, so the comparison is not just "idle equals idle".
  const spinner: ChildProcess = spawn(
    process.execPath,
    ['-e', 'const end = Date.now() + 10000; while (Date.now() < end);'],
    {
      stdio: 'ignore',
    },
  );
  try {
    const cpu = createCpuCollector();
    const t0 = await ne.scrape();
    await collectReal(cpu);
    await new Promise((r) => setTimeout(r, 3000));
    const { rows } = await collectReal(cpu);
    const t1 = await ne.scrape();
    const total = rows[0]!.rows.find((r) => r.cpu === 'total')!;
    const ours = 100 - (total.idle_pct as number) - (total.iowait_pct as number);
    const sum = (m: Map<string, ParsedMetric>, modes?: string[]) =>
      m
        .get('node_cpu_seconds_total')!
        .samples.filter((s) => !modes || modes.includes(s.labels.mode!))
        .reduce((a, s) => a + s.value, 0);
    const all = sum(t1) - sum(t0);
    const idle = sum(t1, ['idle', 'iowait']) - sum(t0, ['idle', 'iowait']);
    const theirs = ((all - idle) / all) * 100;
    assert.ok(
      Math.abs(ours - theirs) <= 5,
      `busy: ours ${ours.toFixed(1)} %, node_exporter ${theirs.toFixed(1)} %`,
    );
    assert.ok(ours > 20, `the spinner keeps a core busy (ours ${ours.toFixed(1)} %)`);
  } finally {
    spinner.kill('SIGKILL');
  }
});
