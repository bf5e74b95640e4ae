/**
 * Host checks on ingest: CPU, memory and swap, load per core, filesystem space and inodes, disk latency
 * and utilisation, pressure stall. Defaults come from seed 000's recommendation table where it has one
 * (CPU 80/95 %, memory 85/95 %, swap 50/80 %, disk 85/95 %, I/O latency 50 ms); the others say their
 * source beside them.
 *
 * Sustained conditions (CPU, iowait, disk latency and utilisation) go through `ScopeRows.since`, not a
 * job over the raw rows: a sample every 10 s arrives on ingest anyway, so "held for 5 minutes" costs one
 * map entry per condition and fires within a batch of the 5 minutes passing, where a job would re-read
 * minutes of raw rows of every host on every run and fire up to a job interval late. The price is that
 * a server instance only counts what it saw itself (see ../scope-rows.ts): after a restart, or when
 * another instance takes a host's batches, the 5 minutes start again — late, never false.
 */
import type { Severity } from '../model.js';
import type { IngestCheck, Row, ScopeRows, Thresholds } from './types.js';
import { cut, grade, humanBytes, humanSeconds, num, round2, shellWord, str } from './util.js';

/** Longest text taken from a row into a finding (mount points, device names, watches come from agents). */
export const maxText = 200;

/** How long a condition must hold (`for_s`): the threshold every sustained check has. */
export const forSpec = {
  default: 300,
  unit: 's',
  help: 'how long the condition must hold without a break before it counts (one 10 s spike never does)',
  min: 0,
  max: 86_400,
};

/**
 * Grades samples (oldest first) that must stay over a level for `t.for_s` seconds to earn it: each level
 * is its own sustained condition, so a box at 96 % for 5 minutes is critical, one at 96 % for a minute
 * after 4 minutes at 85 % is warning. A null value (nothing measured) breaks every condition.
 */
export function sustainedGrade(
  input: ScopeRows,
  key: string,
  samples: ReadonlyArray<{ ts: number; value: number | null }>,
  t: Thresholds,
  names: { info?: string; warning?: string; critical?: string },
): { severity: Severity | null; heldS: number } {
  const levels = (['critical', 'warning', 'info'] as const).filter(
    (l) => names[l] !== undefined && Object.hasOwn(t, names[l]!),
  );
  const held = new Map<Severity, number>();
  for (const s of samples) {
    for (const l of levels) {
      held.set(l, input.since(`${key}|${l}`, s.value !== null && s.value > t[names[l]!]!, s.ts));
    }
  }
  const forS = t.for_s ?? 0;
  for (const l of levels) {
    const h = held.get(l) ?? 0;
    if (h >= forS && samples.some((s) => s.value !== null && s.value > t[names[l]!]!)) {
      return { severity: l, heldS: h };
    }
  }
  return { severity: null, heldS: 0 };
}

function tsOf(r: Row): number {
  return num(r.ts) ?? 0;
}

function pctOf(part: number | null, whole: number | null): number | null {
  if (part === null || whole === null || whole <= 0 || part < 0 || part > whole * 1.01) return null;
  return (100 * part) / whole;
}

const topCpu = 'ps -eo pid,user,pcpu,pmem,stat,etime,cmd --sort=-pcpu | head -15';

export const hostCpu: IngestCheck = {
  id: 'host.cpu',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'CPU busy for minutes',
  doc: {
    evidence: 'busy % (100 − idle − iowait) of all cores, by mode (user, system, steal…), how long it held',
    action: 'the processes using the CPU: `ps -eo pid,user,pcpu,… --sort=-pcpu | head -15`',
  },
  inputs: ['host_cpu'],
  thresholds: {
    warning: { default: 80, unit: '%', help: 'busy share of all cores (seed 000)', min: 1, max: 100 },
    critical: { default: 95, unit: '%', help: 'busy share of all cores (seed 000)', min: 1, max: 100 },
    for_s: forSpec,
  },
  evaluate(input, t) {
    const rows = input.rows('host_cpu').filter((r) => r.cpu === 'total');
    const busyOf = (r: Row): number | null => {
      const idle = num(r.idle_pct);
      const iowait = num(r.iowait_pct);
      if (idle === null || iowait === null || idle < 0 || iowait < 0 || idle + iowait > 101) return null;
      return Math.max(0, 100 - idle - iowait);
    };
    const samples = rows.map((r) => ({ ts: tsOf(r), value: busyOf(r) }));
    const { severity, heldS } = sustainedGrade(input, 'host.cpu', samples, t, {
      warning: 'warning',
      critical: 'critical',
    });
    const last = rows[rows.length - 1];
    const busy = samples[samples.length - 1]?.value ?? null;
    if (!severity || !last || busy === null) return [];
    const steal = num(last.steal_pct) ?? 0;
    const cores = input.host.cores;
    return [
      {
        object: '',
        severity,
        title: `CPU ${Math.round(busy)} % busy for ${humanSeconds(heldS)}`,
        explanation: `All cores${cores ? ` (${cores})` : ''} together have been over ${t.warning} % busy for ${humanSeconds(heldS)}. Queries and everything else on the host wait for CPU, so latency grows.${steal > 10 ? ` ${Math.round(steal)} % is stolen by the hypervisor: the virtual machine gets less CPU than it was given.` : ''}`,
        evidence: {
          busy_pct: round2(busy),
          held_s: Math.round(heldS),
          user_pct: num(last.user_pct),
          system_pct: num(last.system_pct),
          iowait_pct: num(last.iowait_pct),
          steal_pct: num(last.steal_pct),
          softirq_pct: num(last.softirq_pct),
          cores: cores ?? null,
          ts: new Date(tsOf(last)).toISOString(),
        },
        action: topCpu,
        value: round2(busy),
      },
    ];
  },
};

export const hostIowait: IngestCheck = {
  id: 'host.iowait',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'CPUs waiting on I/O for minutes',
  doc: {
    evidence: 'iowait % of all cores, how long it held',
    action: 'which disks and processes: `iostat -x 5 3` and `pidstat -d 5 3` (sysstat)',
  },
  inputs: ['host_cpu'],
  thresholds: {
    // The seed has no iowait row. iowait is idle time with I/O outstanding: a box where a third of all CPU
    // time waits on disk for 5 minutes is storage-bound; 80 % (the busy threshold) would be far too late.
    warning: { default: 30, unit: '%', help: 'iowait share of all cores', min: 1, max: 100 },
    critical: { default: 60, unit: '%', help: 'iowait share of all cores', min: 1, max: 100 },
    for_s: forSpec,
  },
  evaluate(input, t) {
    const rows = input.rows('host_cpu').filter((r) => r.cpu === 'total');
    const samples = rows.map((r) => {
      const v = num(r.iowait_pct);
      return { ts: tsOf(r), value: v !== null && v >= 0 && v <= 100 ? v : null };
    });
    const { severity, heldS } = sustainedGrade(input, 'host.iowait', samples, t, {
      warning: 'warning',
      critical: 'critical',
    });
    const iowait = samples[samples.length - 1]?.value ?? null;
    if (!severity || iowait === null) return [];
    return [
      {
        object: '',
        severity,
        title: `CPUs ${Math.round(iowait)} % waiting on I/O for ${humanSeconds(heldS)}`,
        explanation: `For ${humanSeconds(heldS)} the CPUs have spent over ${t.warning} % of their time idle with disk I/O outstanding: the storage cannot keep up, and queries that read or write wait for it.`,
        evidence: {
          iowait_pct: round2(iowait),
          held_s: Math.round(heldS),
          ts: new Date(samples[samples.length - 1]!.ts).toISOString(),
        },
        action: 'iostat -x 5 3; pidstat -d 5 3',
        value: round2(iowait),
      },
    ];
  },
};

export const hostMemory: IngestCheck = {
  id: 'host.memory',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Memory nearly used up',
  doc: {
    evidence: 'used % (total minus MemAvailable), total, available, page cache, swap',
    action: 'the largest processes: `ps -eo pid,user,rss,cmd --sort=-rss | head -15`',
  },
  inputs: ['host_memory'],
  thresholds: {
    warning: { default: 85, unit: '%', help: 'share of memory not available (seed 000)', min: 1, max: 100 },
    critical: { default: 95, unit: '%', help: 'share of memory not available (seed 000)', min: 1, max: 100 },
  },
  evaluate(input, t) {
    const rows = input.latest('host_memory');
    const row = rows[rows.length - 1];
    if (!row) return [];
    const total = num(row.total_bytes);
    const available = num(row.available_bytes);
    if (total === null || available === null || total <= 0 || available < 0 || available > total) return [];
    const pct = (100 * (total - available)) / total;
    const severity = grade(pct, t);
    if (!severity) return [];
    return [
      {
        object: '',
        severity,
        title: `Memory ${Math.round(pct)} % used`,
        explanation: `Only ${humanBytes(available)} of ${humanBytes(total)} is available for new work. Below that the kernel shrinks the page cache PostgreSQL reads through, then swaps, then the OOM killer ends a process — often a PostgreSQL backend, which restarts every session.`,
        evidence: {
          used_pct: round2(pct),
          total_bytes: total,
          available_bytes: available,
          cached_bytes: num(row.cached_bytes),
          swap_used_bytes: num(row.swap_used_bytes),
          ts: new Date(tsOf(row)).toISOString(),
        },
        action:
          'ps -eo pid,user,rss,cmd --sort=-rss | head -15; dmesg -T | grep -i "out of memory" | tail -5',
        value: round2(pct),
      },
    ];
  },
};

export const hostSwap: IngestCheck = {
  id: 'host.swap',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Swap in use',
  doc: {
    evidence: 'swap used %, swap size, memory available',
    action: 'which processes are swapped out: `grep VmSwap /proc/[0-9]*/status | sort -k2 -n | tail`',
  },
  inputs: ['host_memory'],
  thresholds: {
    info: { default: 50, unit: '%', help: 'share of swap used (seed 000)', min: 1, max: 100 },
    warning: { default: 80, unit: '%', help: 'share of swap used (seed 000)', min: 1, max: 100 },
  },
  evaluate(input, t) {
    const rows = input.latest('host_memory');
    const row = rows[rows.length - 1];
    if (!row) return [];
    const total = num(row.swap_total_bytes);
    const used = num(row.swap_used_bytes);
    // No swap configured: nothing to fill.
    const pct = total !== null && total > 0 ? pctOf(used, total) : null;
    const severity = grade(pct, t, { info: 'info', warning: 'warning' });
    if (!severity || pct === null) return [];
    return [
      {
        object: '',
        severity,
        title: `Swap ${Math.round(pct)} % used`,
        explanation: `${humanBytes(used!)} of ${humanBytes(total!)} swap is in use: memory ran short at some point and pages were pushed to disk. Whatever touches them next (a backend, shared buffers) waits for the disk.`,
        evidence: {
          swap_used_pct: round2(pct),
          swap_total_bytes: total,
          swap_used_bytes: used,
          available_bytes: num(row.available_bytes),
          ts: new Date(tsOf(row)).toISOString(),
        },
        action: 'grep VmSwap /proc/[0-9]*/status | sort -k2 -n | tail; vmstat 5 3',
        value: round2(pct),
      },
    ];
  },
};

export const hostLoad: IngestCheck = {
  id: 'host.load',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Load high for the number of cores',
  doc: {
    evidence: '5-minute load average, cores, load per core, 1- and 15-minute loads',
    action: "running and blocked tasks: `vmstat 5 3` and `ps -eo pid,stat,pcpu,cmd | awk '$2 ~ /^[RD]/'`",
  },
  inputs: ['host_load'],
  thresholds: {
    // The seed's "load > 4.0" is for one box of known size; per core is what holds across sizes.
    warning: { default: 1.5, unit: 'ratio', help: '5-minute load average per core', min: 0.1, max: 100 },
    critical: { default: 3, unit: 'ratio', help: '5-minute load average per core', min: 0.1, max: 100 },
  },
  evaluate(input, t) {
    const rows = input.latest('host_load');
    const row = rows[rows.length - 1];
    const cores = input.host.cores;
    if (!row || !cores || cores <= 0) return [];
    const load5 = num(row.load5);
    if (load5 === null || load5 < 0) return [];
    const perCore = load5 / cores;
    const severity = grade(perCore, t);
    if (!severity) return [];
    return [
      {
        object: '',
        severity,
        title: `Load ${round2(load5)} on ${cores} cores (${round2(perCore)} per core)`,
        explanation: `Over 5 minutes ${round2(load5)} tasks on average were running or waiting to run (or blocked on disk) for ${cores} cores. More than ${t.warning} per core means work queues for CPU or I/O.`,
        evidence: {
          load1: num(row.load1),
          load5,
          load15: num(row.load15),
          cores,
          load_per_core: round2(perCore),
          ts: new Date(tsOf(row)).toISOString(),
        },
        action: "vmstat 5 3; ps -eo pid,stat,pcpu,cmd | awk '$2 ~ /^[RD]/'",
        value: round2(perCore),
      },
    ];
  },
};

/**
 * What to run on a filling filesystem: the largest directories, and for a PostgreSQL data or WAL volume
 * what usually grows there.
 */
export function fillingAction(mountpoint: string): string {
  return [
    `du -xh --max-depth=2 ${shellWord(mountpoint)} 2>/dev/null | sort -h | tail -20`,
    '# PostgreSQL data or WAL here: WAL kept by slots or a failing archiver, and the largest relations:',
    '# SELECT slot_name, active, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) FROM pg_replication_slots; SELECT failed_count, last_failed_wal FROM pg_stat_archiver; SELECT pg_size_pretty(sum(size)) FROM pg_ls_waldir();',
  ].join('\n');
}

export const hostDiskSpace: IngestCheck = {
  id: 'host.disk_space',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Filesystem nearly full',
  doc: {
    evidence: 'used % as df shows it (used / (used + available)), size, available bytes, device, type',
    action:
      '`du -xh --max-depth=2 <mount> | sort -h | tail -20`, and for a PostgreSQL volume the WAL kept by slots',
  },
  inputs: ['host_filesystem'],
  thresholds: {
    warning: { default: 85, unit: '%', help: 'share used, as df shows it (seed 000)', min: 1, max: 100 },
    critical: { default: 95, unit: '%', help: 'share used, as df shows it (seed 000)', min: 1, max: 100 },
  },
  evaluate(input, t) {
    const out = [];
    for (const r of input.latest('host_filesystem')) {
      const used = num(r.used_bytes);
      const avail = num(r.avail_bytes);
      const size = num(r.size_bytes);
      if (used === null || avail === null || size === null || size <= 0 || used < 0 || avail < 0) continue;
      // df's Use%: what unprivileged writers (PostgreSQL) can still use; root's reserve counts as used.
      const pct = pctOf(used, used + avail);
      const severity = grade(pct, t);
      if (!severity || pct === null) continue;
      const mount = cut(str(r.mountpoint), maxText);
      out.push({
        object: mount,
        severity,
        title: `${mount} ${Math.round(pct)} % full`,
        explanation: `${mount} has ${humanBytes(avail)} left of ${humanBytes(size)}. When it is full, writes fail: PostgreSQL on a full data or WAL volume stops (PANIC: could not write to file) and will not start until space is freed.`,
        evidence: {
          mountpoint: mount,
          device: cut(str(r.device), maxText),
          fstype: cut(str(r.fstype), 40),
          used_pct: round2(pct),
          size_bytes: size,
          used_bytes: used,
          avail_bytes: avail,
          ts: new Date(tsOf(r)).toISOString(),
        },
        action: fillingAction(mount),
        value: round2(pct),
      });
      if (out.length >= 50) break;
    }
    return out;
  },
};

export const hostInodes: IngestCheck = {
  id: 'host.inodes',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Filesystem running out of inodes',
  doc: {
    evidence: 'inodes used %, inodes in all and free',
    action: 'directories with the most files: `du -x --inodes --max-depth=2 <mount> | sort -n | tail -20`',
  },
  inputs: ['host_filesystem'],
  thresholds: {
    warning: { default: 90, unit: '%', help: 'share of inodes in use', min: 1, max: 100 },
    // No seed value: at 97 % a burst of small files (temp files, WAL segments) takes the rest.
    critical: { default: 97, unit: '%', help: 'share of inodes in use', min: 1, max: 100 },
  },
  evaluate(input, t) {
    const out = [];
    for (const r of input.latest('host_filesystem')) {
      const total = num(r.inodes_total);
      // Filesystems without a fixed inode table (btrfs, some network filesystems) say 0.
      if (total === null || total <= 0) continue;
      const pct = pctOf(num(r.inodes_used), total);
      const severity = grade(pct, t);
      if (!severity || pct === null) continue;
      const mount = cut(str(r.mountpoint), maxText);
      out.push({
        object: mount,
        severity,
        title: `${mount} ${Math.round(pct)} % of inodes used`,
        explanation: `${mount} has ${num(r.inodes_free) ?? 'few'} inodes left of ${total}. Without inodes no file can be created even with space free ("No space left on device"): new WAL segments, temp files and relation files fail.`,
        evidence: {
          mountpoint: mount,
          inodes_used_pct: round2(pct),
          inodes_total: total,
          inodes_used: num(r.inodes_used),
          inodes_free: num(r.inodes_free),
          ts: new Date(tsOf(r)).toISOString(),
        },
        action: `du -x --inodes --max-depth=2 ${shellWord(mount)} 2>/dev/null | sort -n | tail -20`,
        value: round2(pct),
      });
      if (out.length >= 50) break;
    }
    return out;
  },
};

/** Rows of one series (by a label column) of a family, oldest first, at most `max` series. */
function bySeries(rows: readonly Row[], label: string, max = 64): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) {
    const k = str(r[label]);
    let s = out.get(k);
    if (!s) {
      if (out.size >= max) continue;
      s = [];
      out.set(k, s);
    }
    s.push(r);
  }
  return out;
}

export const hostDiskLatency: IngestCheck = {
  id: 'host.disk_latency',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Disk reads or writes slow for minutes',
  doc: {
    evidence: 'read and write await ms, operations per second, utilisation, how long it held',
    action: 'per-device queue and latency: `iostat -x <device> 5 3`, and who does the I/O: `iotop -obn 3`',
  },
  inputs: ['host_disk'],
  thresholds: {
    warning: { default: 50, unit: 'ms', help: 'average read or write await (seed 000)', min: 1, max: 60_000 },
    min_iops: {
      default: 5,
      unit: 'count',
      help: 'operations per second below which a slow average is not counted (an idle disk’s one slow op)',
      min: 0,
      max: 100_000,
    },
    for_s: forSpec,
  },
  evaluate(input, t) {
    const out = [];
    const minIops = t.min_iops ?? 5;
    for (const [device, rows] of bySeries(input.rows('host_disk'), 'device')) {
      const awaitOf = (r: Row): number | null => {
        let worst: number | null = null;
        for (const [ops, wait] of [
          [num(r.reads_per_s), num(r.read_await_ms)],
          [num(r.writes_per_s), num(r.write_await_ms)],
        ] as const) {
          if (ops !== null && wait !== null && ops >= minIops && wait >= 0)
            worst = Math.max(worst ?? 0, wait);
        }
        return worst;
      };
      const samples = rows.map((r) => ({ ts: tsOf(r), value: awaitOf(r) }));
      const name = cut(device, 100);
      const { severity, heldS } = sustainedGrade(input, `host.disk_latency|${name}`, samples, t, {
        warning: 'warning',
      });
      const last = rows[rows.length - 1]!;
      const worst = samples[samples.length - 1]?.value ?? null;
      if (!severity || worst === null) continue;
      out.push({
        object: name,
        severity,
        title: `${name}: I/O takes ${Math.round(worst)} ms for ${humanSeconds(heldS)}`,
        explanation: `Reads or writes on ${name} have averaged over ${t.warning} ms each for ${humanSeconds(heldS)} while it was doing at least ${minIops} operations per second. Every query that misses the cache, and every commit waiting for its WAL flush, waits that long.`,
        evidence: {
          device: name,
          read_await_ms: num(last.read_await_ms),
          write_await_ms: num(last.write_await_ms),
          reads_per_s: num(last.reads_per_s),
          writes_per_s: num(last.writes_per_s),
          util_pct: num(last.util_pct),
          held_s: Math.round(heldS),
          ts: new Date(tsOf(last)).toISOString(),
        },
        action: `iostat -x ${shellWord(name)} 5 3; iotop -obn 3 | head -20`,
        value: round2(worst),
      });
    }
    return out;
  },
};

export const hostDiskBusy: IngestCheck = {
  id: 'host.disk_busy',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Disk busy nearly all the time',
  doc: {
    evidence: 'utilisation %, operations and bytes per second, await, how long it held',
    action: 'who does the I/O: `iotop -obn 3`; per-device queue: `iostat -x <device> 5 3`',
  },
  inputs: ['host_disk'],
  thresholds: {
    warning: { default: 90, unit: '%', help: 'share of time the device had I/O in flight', min: 1, max: 100 },
    for_s: forSpec,
  },
  evaluate(input, t) {
    const out = [];
    for (const [device, rows] of bySeries(input.rows('host_disk'), 'device')) {
      const samples = rows.map((r) => {
        const u = num(r.util_pct);
        return { ts: tsOf(r), value: u !== null && u >= 0 && u <= 101 ? u : null };
      });
      const name = cut(device, 100);
      const { severity, heldS } = sustainedGrade(input, `host.disk_busy|${name}`, samples, t, {
        warning: 'warning',
      });
      const last = rows[rows.length - 1]!;
      const util = samples[samples.length - 1]?.value ?? null;
      if (!severity || util === null) continue;
      out.push({
        object: name,
        severity,
        title: `${name} ${Math.round(util)} % busy for ${humanSeconds(heldS)}`,
        explanation: `${name} has had I/O in flight over ${t.warning} % of the time for ${humanSeconds(heldS)}. On a single spinning disk that is saturation; SSDs and RAID serve many requests at once, so look at the await time before concluding it is full.`,
        evidence: {
          device: name,
          util_pct: round2(util),
          reads_per_s: num(last.reads_per_s),
          writes_per_s: num(last.writes_per_s),
          read_bytes_per_s: num(last.read_bytes_per_s),
          write_bytes_per_s: num(last.write_bytes_per_s),
          read_await_ms: num(last.read_await_ms),
          write_await_ms: num(last.write_await_ms),
          held_s: Math.round(heldS),
          ts: new Date(tsOf(last)).toISOString(),
        },
        action: `iotop -obn 3 | head -20; iostat -x ${shellWord(name)} 5 3`,
        value: round2(util),
      });
    }
    return out;
  },
};

/**
 * Pressure stall defaults. The kernel's PSI documentation gives no thresholds; these are ours, set well
 * before systemd-oomd acts (it kills at memory "full" pressure of 60 % over 30 s by default): 5 % of time
 * with every task stalled on memory is already heavy reclaim; 30 % of time with some task waiting on I/O
 * is a storage bottleneck; CPU contention alone is worth knowing (info), not waking anyone.
 */
const pressureRules = [
  { resource: 'memory', column: 'full_avg60', threshold: 'memory_full_warning', severity: 'warning' },
  { resource: 'io', column: 'some_avg60', threshold: 'io_some_warning', severity: 'warning' },
  { resource: 'cpu', column: 'some_avg60', threshold: 'cpu_some_info', severity: 'info' },
] as const;

const pressureAction: Record<string, string> = {
  memory: 'ps -eo pid,user,rss,cmd --sort=-rss | head -15; vmstat 5 3',
  io: 'iotop -obn 3 | head -20; iostat -x 5 3',
  cpu: topCpu,
};

export const hostPressure: IngestCheck = {
  id: 'host.pressure',
  group: 'host',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Tasks stalled waiting for memory, I/O or CPU',
  doc: {
    evidence: 'the resource, its 10/60/300 s stall averages (some and full)',
    action: 'the processes using that resource most (`ps --sort=-rss`, `iotop`, `ps --sort=-pcpu`)',
  },
  inputs: ['host_pressure'],
  thresholds: {
    memory_full_warning: {
      default: 5,
      unit: '%',
      help: 'memory "full" 60 s average: share of time every non-idle task stalled on memory',
      min: 0.1,
      max: 100,
    },
    io_some_warning: {
      default: 30,
      unit: '%',
      help: 'io "some" 60 s average: share of time at least one task waited on I/O',
      min: 0.1,
      max: 100,
    },
    cpu_some_info: {
      default: 50,
      unit: '%',
      help: 'cpu "some" 60 s average: share of time at least one runnable task waited for a CPU',
      min: 0.1,
      max: 100,
    },
  },
  evaluate(input, t) {
    const out = [];
    const rows = input.latest('host_pressure');
    for (const rule of pressureRules) {
      const row = rows.find((r) => r.resource === rule.resource);
      const limit = t[rule.threshold];
      const v = row ? num(row[rule.column]) : null;
      if (!row || limit === undefined || v === null || v < 0 || v > 100 || v <= limit) continue;
      const kind = rule.column.startsWith('full') ? 'all non-idle tasks' : 'at least one task';
      out.push({
        object: rule.resource,
        severity: rule.severity,
        title: `${rule.resource} pressure: ${kind} stalled ${round2(v)} % of the last minute`,
        explanation: `Over the last 60 s, ${kind} could not run for ${round2(v)} % of the time because they waited for ${rule.resource === 'cpu' ? 'a CPU' : rule.resource === 'io' ? 'I/O' : 'memory (reclaim, swap-in)'}. That time is lost directly as latency.`,
        evidence: {
          resource: rule.resource,
          some_avg10: num(row.some_avg10),
          some_avg60: num(row.some_avg60),
          some_avg300: num(row.some_avg300),
          full_avg10: num(row.full_avg10),
          full_avg60: num(row.full_avg60),
          full_avg300: num(row.full_avg300),
          ts: new Date(tsOf(row)).toISOString(),
        },
        action: pressureAction[rule.resource]!,
        value: round2(v),
      });
    }
    return out;
  },
};

export const hostChecks = [
  hostCpu,
  hostIowait,
  hostMemory,
  hostSwap,
  hostLoad,
  hostDiskSpace,
  hostInodes,
  hostDiskLatency,
  hostDiskBusy,
  hostPressure,
];
