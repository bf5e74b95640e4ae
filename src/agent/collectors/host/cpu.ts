/**
 * CPU time per core and for all cores, from /proc/stat.
 *
 * Stored rows (host_cpu) hold each mode as a percentage of the elapsed (monotonic) time since the previous
 * sample: per core 0–100, and for "total" averaged over the cores, so also 0–100. The first sample has no
 * previous one, so its percentages are null. The exposition serves the raw counters under node_exporter's
 * names (node_cpu_seconds_total{cpu,mode}, plus the /proc/stat system counters it shows: boot time,
 * context switches, forks, interrupts, running and blocked processes).
 *
 * As in the kernel (and node_exporter), `user` and `nice` include time spent running guests.
 */
import { CounterTracker } from '../../rates.js';
import { fieldsOf, linesOf, ParseError, parseCount, readKernelFile, USER_HZ } from '../proc.js';
import type { Collector, ExposedMetric, Row } from '../types.js';

const file = '/proc/stat';

/** The modes of host_cpu, in /proc/stat column order. */
export const cpuModes = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
export type CpuMode = (typeof cpuModes)[number];

export interface CpuTimes {
  /** Core number, or "total" for the aggregate line. */
  cpu: string;
  /** Ticks (USER_HZ) per mode; null for modes this kernel does not report. */
  ticks: Record<CpuMode, number | null>;
  guest: number | null;
  guestNice: number | null;
}

export interface ProcStat {
  total: CpuTimes;
  /** One per online core, in file order. */
  cores: CpuTimes[];
  bootTimeSeconds: number | null;
  contextSwitches: number | null;
  forks: number | null;
  interrupts: number | null;
  procsRunning: number | null;
  procsBlocked: number | null;
}

/** Parses /proc/stat. Throws ParseError when the aggregate cpu line is missing or a count is malformed. */
export function parseProcStat(text: string): ProcStat {
  let total: CpuTimes | undefined;
  const cores: CpuTimes[] = [];
  const out: Omit<ProcStat, 'total' | 'cores'> = {
    bootTimeSeconds: null,
    contextSwitches: null,
    forks: null,
    interrupts: null,
    procsRunning: null,
    procsBlocked: null,
  };
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    const key = f[0]!;
    if (key.startsWith('cpu')) {
      const id = key === 'cpu' ? 'total' : key.slice(3);
      if (id !== 'total' && !/^\d+$/.test(id)) throw new ParseError(file, 'unknown cpu line', line);
      // Kernels before 2.6.11 had fewer columns; a missing column is "not reported", not zero.
      if (f.length < 5) throw new ParseError(file, 'cpu line with fewer than 4 counters', line);
      const at = (i: number): number | null =>
        f[i + 1] === undefined ? null : parseCount(f[i + 1], file, `${key} column ${i + 1}`, line);
      const times: CpuTimes = {
        cpu: id,
        ticks: {
          user: at(0),
          nice: at(1),
          system: at(2),
          idle: at(3),
          iowait: at(4),
          irq: at(5),
          softirq: at(6),
          steal: at(7),
        },
        guest: at(8),
        guestNice: at(9),
      };
      if (id === 'total') total = times;
      else cores.push(times);
      continue;
    }
    const value = (): number => parseCount(f[1], file, key, line);
    if (key === 'btime') out.bootTimeSeconds = value();
    else if (key === 'ctxt') out.contextSwitches = value();
    else if (key === 'processes') out.forks = value();
    else if (key === 'intr') out.interrupts = value();
    else if (key === 'procs_running') out.procsRunning = value();
    else if (key === 'procs_blocked') out.procsBlocked = value();
  }
  if (!total) throw new ParseError(file, 'no aggregate "cpu" line');
  return { total, cores, ...out };
}

/**
 * host_cpu rows: each mode's share of the elapsed time since the previous sample, from the tick
 * counters. Null for the first sample, after a counter went backwards, and for modes not reported.
 */
export function cpuRows(stat: ProcStat, counters: CounterTracker, atMs: number): Row[] {
  const ncores = Math.max(stat.cores.length, 1);
  const rows: Row[] = [];
  for (const times of [stat.total, ...stat.cores]) {
    const row: Row = { cpu: times.cpu };
    const share = times.cpu === 'total' ? ncores : 1;
    // A core taken offline and back restarts its counters: all modes of it reset together.
    const d = counters.deltas(times.cpu, times.ticks, atMs);
    for (const mode of cpuModes) {
      const m = d[mode];
      // Multiplying first keeps whole-tick shares exact (880 ticks in 10 s on one core is 88, not 88.00000000000001).
      row[`${mode}_pct`] = m === null ? null : (m.delta * 100) / (USER_HZ * m.seconds * share);
    }
    rows.push(row);
  }
  counters.sweep();
  return rows;
}

/** The raw counters under node_exporter's names (seconds, not ticks). */
export function cpuExposition(stat: ProcStat): ExposedMetric[] {
  const seconds: ExposedMetric = {
    name: 'node_cpu_seconds_total',
    help: 'Seconds the CPUs spent in each mode.',
    type: 'counter',
    samples: [],
  };
  const guest: ExposedMetric = {
    name: 'node_cpu_guest_seconds_total',
    help: 'Seconds the CPUs spent in guests (VMs) for each mode.',
    type: 'counter',
    samples: [],
  };
  for (const core of stat.cores) {
    for (const mode of cpuModes) {
      const t = core.ticks[mode];
      if (t !== null) seconds.samples.push({ labels: { cpu: core.cpu, mode }, value: t / USER_HZ });
    }
    if (core.guest !== null)
      guest.samples.push({ labels: { cpu: core.cpu, mode: 'user' }, value: core.guest / USER_HZ });
    if (core.guestNice !== null)
      guest.samples.push({ labels: { cpu: core.cpu, mode: 'nice' }, value: core.guestNice / USER_HZ });
  }
  const out = [seconds, guest];
  const single = (name: string, help: string, type: 'counter' | 'gauge', value: number | null): void => {
    if (value !== null) out.push({ name, help, type, samples: [{ value }] });
  };
  single('node_boot_time_seconds', 'Node boot time, in unixtime.', 'gauge', stat.bootTimeSeconds);
  single('node_context_switches_total', 'Total number of context switches.', 'counter', stat.contextSwitches);
  single('node_forks_total', 'Total number of forks.', 'counter', stat.forks);
  single('node_intr_total', 'Total number of interrupts serviced.', 'counter', stat.interrupts);
  single('node_procs_running', 'Number of processes in runnable state.', 'gauge', stat.procsRunning);
  single(
    'node_procs_blocked',
    'Number of processes blocked waiting for I/O to complete.',
    'gauge',
    stat.procsBlocked,
  );
  return out;
}

/** Creates the CPU collector; each instance keeps its own previous sample. */
export function createCpuCollector(): Collector {
  const counters = new CounterTracker();
  return {
    name: 'cpu',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      const text = readKernelFile(ctx.procRoot, 'stat');
      const atMs = ctx.monotonic();
      const ts = ctx.now();
      const stat = parseProcStat(text);
      ctx.expose?.(cpuExposition(stat));
      return [{ family: 'host_cpu', ts, rows: cpuRows(stat, counters, atMs) }];
    },
  };
}
