/**
 * Block device I/O per device, from /proc/diskstats.
 *
 * The file has 14 columns before Linux 4.18, 18 with the discard columns (4.18+) and 20 with the flush
 * columns (5.5+); columns a kernel lacks are absent from the exposition, never reported as 0.
 * Devices node_exporter ignores by default (partitions, loop, ram, floppy) are ignored here too, so
 * totals are not counted twice and the exposition matches node_exporter's series.
 *
 * Stored rows (host_disk): per-second rates, average await per completed I/O in ms (null in an interval
 * without I/O: an average of nothing is not 0), utilisation as the share of time the device was busy.
 */
import { CounterTracker, perSecond, ratioOfDeltas } from '../../rates.js';
import { fieldsOf, linesOf, ParseError, parseCount, readKernelFile } from '../proc.js';
import type { Collector, ExposedMetric, Row } from '../types.js';

const file = '/proc/diskstats';

/** The kernel counts sectors of 512 bytes in diskstats, whatever the device's block size. */
const sectorBytes = 512;

/** node_exporter's default --collector.diskstats.device-exclude. */
export const defaultDiskExclude = /^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$/;

export interface DiskStats {
  major: number;
  minor: number;
  device: string;
  readsCompleted: number;
  readsMerged: number;
  sectorsRead: number;
  readMs: number;
  writesCompleted: number;
  writesMerged: number;
  sectorsWritten: number;
  writeMs: number;
  inProgress: number;
  ioMs: number;
  weightedIoMs: number;
  /** Linux 4.18+. */
  discards: { completed: number; merged: number; sectors: number; ms: number } | null;
  /** Linux 5.5+. */
  flushes: { completed: number; ms: number } | null;
}

/** Parses /proc/diskstats (every device, partitions included; see `selectDisks`). */
export function parseDiskstats(text: string): DiskStats[] {
  const out: DiskStats[] = [];
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    if (f.length < 14) throw new ParseError(file, `expected at least 14 columns, got ${f.length}`, line);
    const n = (i: number, what: string): number => parseCount(f[i], file, what, line);
    const device = f[2]!;
    out.push({
      major: n(0, 'major'),
      minor: n(1, 'minor'),
      device,
      readsCompleted: n(3, 'reads completed'),
      readsMerged: n(4, 'reads merged'),
      sectorsRead: n(5, 'sectors read'),
      readMs: n(6, 'ms reading'),
      writesCompleted: n(7, 'writes completed'),
      writesMerged: n(8, 'writes merged'),
      sectorsWritten: n(9, 'sectors written'),
      writeMs: n(10, 'ms writing'),
      inProgress: n(11, 'I/Os in progress'),
      ioMs: n(12, 'ms doing I/O'),
      weightedIoMs: n(13, 'weighted ms doing I/O'),
      discards:
        f.length >= 18
          ? {
              completed: n(14, 'discards completed'),
              merged: n(15, 'discards merged'),
              sectors: n(16, 'sectors discarded'),
              ms: n(17, 'ms discarding'),
            }
          : null,
      flushes: f.length >= 20 ? { completed: n(18, 'flushes completed'), ms: n(19, 'ms flushing') } : null,
    });
  }
  return out;
}

export function selectDisks(disks: DiskStats[], exclude: RegExp = defaultDiskExclude): DiskStats[] {
  return disks.filter((d) => !exclude.test(d.device));
}

export function diskRows(disks: DiskStats[], counters: CounterTracker, atMs: number): Row[] {
  const rows: Row[] = [];
  for (const disk of disks) {
    const d = counters.deltas(
      disk.device,
      {
        reads: disk.readsCompleted,
        writes: disk.writesCompleted,
        readBytes: disk.sectorsRead * sectorBytes,
        writeBytes: disk.sectorsWritten * sectorBytes,
        readMs: disk.readMs,
        writeMs: disk.writeMs,
        ioMs: disk.ioMs,
      },
      atMs,
    );
    rows.push({
      device: disk.device,
      reads_per_s: perSecond(d.reads),
      writes_per_s: perSecond(d.writes),
      read_bytes_per_s: perSecond(d.readBytes),
      write_bytes_per_s: perSecond(d.writeBytes),
      read_await_ms: ratioOfDeltas(d.readMs, d.reads),
      write_await_ms: ratioOfDeltas(d.writeMs, d.writes),
      util_pct: d.ioMs && (d.ioMs.delta * 100) / (d.ioMs.seconds * 1000),
      in_progress: disk.inProgress,
    });
  }
  counters.sweep();
  return rows;
}

interface DiskMetricSpec {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value(d: DiskStats): number | undefined;
}

/** node_exporter's diskstats metrics, in its names and units. */
const diskMetrics: DiskMetricSpec[] = [
  {
    name: 'node_disk_reads_completed_total',
    help: 'The total number of reads completed successfully.',
    type: 'counter',
    value: (d) => d.readsCompleted,
  },
  {
    name: 'node_disk_reads_merged_total',
    help: 'The total number of reads merged.',
    type: 'counter',
    value: (d) => d.readsMerged,
  },
  {
    name: 'node_disk_read_bytes_total',
    help: 'The total number of bytes read successfully.',
    type: 'counter',
    value: (d) => d.sectorsRead * sectorBytes,
  },
  {
    name: 'node_disk_read_time_seconds_total',
    help: 'The total number of seconds spent by all reads.',
    type: 'counter',
    value: (d) => d.readMs / 1000,
  },
  {
    name: 'node_disk_writes_completed_total',
    help: 'The total number of writes completed successfully.',
    type: 'counter',
    value: (d) => d.writesCompleted,
  },
  {
    name: 'node_disk_writes_merged_total',
    help: 'The number of writes merged.',
    type: 'counter',
    value: (d) => d.writesMerged,
  },
  {
    name: 'node_disk_written_bytes_total',
    help: 'The total number of bytes written successfully.',
    type: 'counter',
    value: (d) => d.sectorsWritten * sectorBytes,
  },
  {
    name: 'node_disk_write_time_seconds_total',
    help: 'This is the total number of seconds spent by all writes.',
    type: 'counter',
    value: (d) => d.writeMs / 1000,
  },
  {
    name: 'node_disk_io_now',
    help: 'The number of I/Os currently in progress.',
    type: 'gauge',
    value: (d) => d.inProgress,
  },
  {
    name: 'node_disk_io_time_seconds_total',
    help: 'Total seconds spent doing I/Os.',
    type: 'counter',
    value: (d) => d.ioMs / 1000,
  },
  {
    name: 'node_disk_io_time_weighted_seconds_total',
    help: 'The weighted # of seconds spent doing I/Os.',
    type: 'counter',
    value: (d) => d.weightedIoMs / 1000,
  },
  {
    name: 'node_disk_discards_completed_total',
    help: 'The total number of discards completed successfully.',
    type: 'counter',
    value: (d) => d.discards?.completed,
  },
  {
    name: 'node_disk_discards_merged_total',
    help: 'The total number of discards merged.',
    type: 'counter',
    value: (d) => d.discards?.merged,
  },
  {
    name: 'node_disk_discarded_sectors_total',
    help: 'The total number of sectors discarded successfully.',
    type: 'counter',
    value: (d) => d.discards?.sectors,
  },
  {
    name: 'node_disk_discard_time_seconds_total',
    help: 'This is the total number of seconds spent by all discards.',
    type: 'counter',
    value: (d) => (d.discards ? d.discards.ms / 1000 : undefined),
  },
  {
    name: 'node_disk_flush_requests_total',
    help: 'The total number of flush requests completed successfully',
    type: 'counter',
    value: (d) => d.flushes?.completed,
  },
  {
    name: 'node_disk_flush_requests_time_seconds_total',
    help: 'This is the total number of seconds spent by all flush requests.',
    type: 'counter',
    value: (d) => (d.flushes ? d.flushes.ms / 1000 : undefined),
  },
];

export function diskExposition(disks: DiskStats[]): ExposedMetric[] {
  const out: ExposedMetric[] = [];
  for (const spec of diskMetrics) {
    const metric: ExposedMetric = { name: spec.name, help: spec.help, type: spec.type, samples: [] };
    for (const d of disks) {
      const value = spec.value(d);
      if (value !== undefined) metric.samples.push({ labels: { device: d.device }, value });
    }
    if (metric.samples.length > 0) out.push(metric);
  }
  return out;
}

export interface DiskCollectorOptions {
  exclude?: RegExp;
}

export function createDiskCollector(options: DiskCollectorOptions = {}): Collector {
  const counters = new CounterTracker();
  const exclude = options.exclude ?? defaultDiskExclude;
  return {
    name: 'disk',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      const text = readKernelFile(ctx.procRoot, 'diskstats');
      const atMs = ctx.monotonic();
      const ts = ctx.now();
      const disks = selectDisks(parseDiskstats(text), exclude);
      ctx.expose?.(diskExposition(disks));
      return [{ family: 'host_disk', ts, rows: diskRows(disks, counters, atMs) }];
    },
  };
}
