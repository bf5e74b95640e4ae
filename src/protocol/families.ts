/**
 * Metric families: what agent and server agree a row of each family holds. The agent fills rows in this
 * column order, the wire format carries them as arrays under this column list, and the server writes them
 * with COPY into the table of the same name (plus `server_id` and `ts`, which every row has).
 *
 * The migrations create the tables by hand (they are forward-only history); a test checks that every
 * family here matches its table column for column.
 */

/** Column types, named as PostgreSQL names them. */
export type ColumnType = 'text' | 'int4' | 'int8' | 'float4' | 'float8' | 'bool' | 'timestamptz' | 'jsonb';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** Part of the series identity (and of the primary key), not a value. */
  label?: true;
  /** Cumulative counter (rolled up as reset-aware deltas, never summed). Others are gauges or rates. */
  counter?: true;
  help: string;
}

export interface FamilySpec {
  name: string;
  /** What a row describes, for documentation. */
  help: string;
  /** Host families belong to a monitored server; target families to a PostgreSQL target on it. */
  scope: 'host' | 'target';
  columns: readonly ColumnSpec[];
}

const pct = (name: string, help: string): ColumnSpec => ({ name, type: 'float4', help });
const rate = (name: string, help: string): ColumnSpec => ({ name, type: 'float8', help });
const bytes = (name: string, help: string): ColumnSpec => ({ name, type: 'int8', help });
const label = (name: string, help: string): ColumnSpec => ({ name, type: 'text', label: true, help });

export const hostFamilies = {
  host_cpu: {
    name: 'host_cpu',
    help: 'CPU time by mode as a percentage of elapsed time, per core and for all cores ("total").',
    scope: 'host',
    columns: [
      label('cpu', 'core number, or "total"'),
      pct('user_pct', 'user mode'),
      pct('nice_pct', 'user mode at low priority'),
      pct('system_pct', 'kernel mode'),
      pct('idle_pct', 'idle'),
      pct('iowait_pct', 'idle while waiting for I/O'),
      pct('irq_pct', 'servicing interrupts'),
      pct('softirq_pct', 'servicing soft interrupts'),
      pct('steal_pct', 'stolen by the hypervisor'),
    ],
  },
  host_memory: {
    name: 'host_memory',
    help: 'Memory and swap, from /proc/meminfo.',
    scope: 'host',
    columns: [
      bytes('total_bytes', 'physical memory'),
      bytes('available_bytes', 'memory available for new work without swapping (MemAvailable)'),
      bytes('used_bytes', 'total minus free, buffers and page cache'),
      bytes('free_bytes', 'unused memory'),
      bytes('buffers_bytes', 'block device buffers'),
      bytes('cached_bytes', 'page cache (including reclaimable slab)'),
      bytes('swap_total_bytes', 'swap space'),
      bytes('swap_used_bytes', 'swap in use'),
    ],
  },
  host_load: {
    name: 'host_load',
    help: 'Load averages over 1, 5 and 15 minutes.',
    scope: 'host',
    columns: [pct('load1', '1-minute load average'), pct('load5', '5-minute'), pct('load15', '15-minute')],
  },
  host_pressure: {
    name: 'host_pressure',
    help: 'Pressure stall information per resource (cpu, io, memory), where the kernel has it.',
    scope: 'host',
    columns: [
      label('resource', 'cpu, io or memory'),
      pct('some_avg10', 'share of time some tasks stalled, 10 s average (%)'),
      pct('some_avg60', '60 s average (%)'),
      pct('some_avg300', '300 s average (%)'),
      rate('some_stall_pct', 'share of the last interval some tasks stalled (%), from the total counter'),
      pct('full_avg10', 'share of time all non-idle tasks stalled, 10 s average (%)'),
      pct('full_avg60', '60 s average (%)'),
      pct('full_avg300', '300 s average (%)'),
      rate('full_stall_pct', 'share of the last interval all tasks stalled (%), from the total counter'),
    ],
  },
  host_disk: {
    name: 'host_disk',
    help: 'Block device I/O per device, from /proc/diskstats.',
    scope: 'host',
    columns: [
      label('device', 'block device name'),
      rate('reads_per_s', 'completed reads per second'),
      rate('writes_per_s', 'completed writes per second'),
      rate('read_bytes_per_s', 'bytes read per second'),
      rate('write_bytes_per_s', 'bytes written per second'),
      rate('read_await_ms', 'average time a read took (queue + service), ms'),
      rate('write_await_ms', 'average time a write took (queue + service), ms'),
      rate('util_pct', 'share of time the device was busy (%)'),
      rate('in_progress', 'I/Os in flight at sampling time'),
    ],
  },
  host_filesystem: {
    name: 'host_filesystem',
    help: 'Filesystem space and inodes per mount point (pseudo filesystems and duplicate mounts skipped).',
    scope: 'host',
    columns: [
      label('mountpoint', 'where it is mounted'),
      { name: 'device', type: 'text', help: 'mounted device' },
      { name: 'fstype', type: 'text', help: 'filesystem type' },
      bytes('size_bytes', 'total size'),
      bytes('used_bytes', 'space used'),
      bytes('avail_bytes', 'space available to unprivileged users'),
      bytes('inodes_total', 'inodes in all'),
      bytes('inodes_used', 'inodes in use'),
      bytes('inodes_free', 'inodes free'),
    ],
  },
  host_network: {
    name: 'host_network',
    help: 'Network traffic per interface, from /proc/net/dev.',
    scope: 'host',
    columns: [
      label('interface', 'interface name'),
      rate('rx_bytes_per_s', 'bytes received per second'),
      rate('tx_bytes_per_s', 'bytes sent per second'),
      rate('rx_packets_per_s', 'packets received per second'),
      rate('tx_packets_per_s', 'packets sent per second'),
      rate('rx_errors_per_s', 'receive errors per second'),
      rate('tx_errors_per_s', 'send errors per second'),
      rate('rx_drops_per_s', 'received packets dropped per second'),
      rate('tx_drops_per_s', 'sent packets dropped per second'),
    ],
  },
} as const satisfies Record<string, FamilySpec>;

/** Every family the protocol knows, by name. Later families are added here as they are built. */
export const families: Record<string, FamilySpec> = { ...hostFamilies };

export type FamilyName = keyof typeof hostFamilies;
