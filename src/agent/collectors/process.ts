/**
 * Watched processes, by name or by pattern, from /proc/<pid>/{stat,status,cmdline,fd}.
 *
 * A watch is either a NAME, matched exactly against the process name as `pgrep NAME` and `ps -e` show it
 * (the kernel's comm, 15 characters at most; a longer NAME must also equal the basename of argv[0]), or
 * /REGEX/, matched against the full command line as `pgrep -f` does (postgres rewrites its command line
 * to "postgres: checkpointer", so /postgres: checkpointer/ finds that one process). The agent itself is
 * never matched.
 *
 * One row per watch sums over every matching process (postgres and its backends stay one series): the
 * count, CPU % of one core over the last interval, resident memory, open file descriptors and threads;
 * pid, state and uptime are those of the oldest matching process (the main one). A watch matching nothing
 * is a row with up = false, state = 'missing' and no invented values.
 *
 * Cost: finding the matches reads one small file per process on the host (comm), which is most of this
 * collector's CPU. Names are therefore remembered per pid: a new pid's name is read on the first two
 * collections that see it (the first may catch it between fork and exec, still under its parent's name),
 * then trusted until the next full scan (at most every `fullScanMs`, default 60 s); a matching process's
 * name is re-checked on every collection (its stat carries it). The price: a process that takes a
 * watched name later in its life (prctl(PR_SET_NAME), an exec long after its fork, a pid reused within
 * one interval) is found at the next full scan, up to a minute late. /REGEX/ watches read every command
 * line on every collection (postgres rewrites its own as its state changes), so they cost more.
 *
 * The files of a matching process (stat, statm — status where the page size is unknown — and its fd
 * directory) stay open between collections, for at most `maxKeptProcesses` processes and only on a real
 * procfs: reading them again from offset 0 skips the path lookup, open and close of each (most of the
 * kernel's part of this collector's cost). A kept descriptor stays bound to the process it was opened
 * for: once that process is gone it reads ESRCH, even if its pid was reused, and the files are opened
 * afresh by path.
 *
 * CPU over an interval counts only processes seen at both ends of it: one started in between contributes
 * from its first sample on, one that exited takes its last slice with it. The exposition's
 * pgvigil_process_cpu_seconds_total is the sum of those increases, so it only ever grows (a plain sum
 * of per-process counters would drop whenever a process exits).
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { CounterTracker } from '../rates.js';
import {
  errnoCode,
  fieldsOf,
  isMissing,
  ParseError,
  parseCount,
  readKernelFile,
  readUnder,
  rereadKernelFile,
  USER_HZ,
} from './proc.js';
import type { Collector, ExposedMetric, Row } from './types.js';

export interface ProcessWatch {
  /** As configured, and the row's label. */
  spec: string;
  name?: string;
  pattern?: RegExp;
}

/** The kernel keeps 15 characters of a process name (TASK_COMM_LEN 16 with the NUL). */
const commLength = 15;

/**
 * Parses a --watch-process value: NAME or /REGEX/ (optionally /REGEX/i). Throws an Error saying what is
 * wrong with it; the CLI turns it into a BAD_ARGUMENT.
 */
export function parseProcessWatch(spec: string): ProcessWatch {
  const m = /^\/(.+)\/([i]?)$/s.exec(spec);
  if (m) {
    try {
      return { spec, pattern: new RegExp(m[1]!, m[2]) };
    } catch (err) {
      throw new Error(`--watch-process ${spec}: not a valid regular expression (${(err as Error).message})`);
    }
  }
  if (spec.trim() === '') throw new Error('--watch-process: empty process name');
  if (spec.includes('/')) {
    throw new Error(
      `--watch-process ${spec}: a process name has no "/"; give the program name (postgres) or a /pattern/ over the command line`,
    );
  }
  return { spec, name: spec };
}

export interface PidStat {
  pid: number;
  comm: string;
  /** One letter: R, S, D, Z, T, t, X, I, … */
  state: string;
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
  threads: number;
  /** Ticks after boot. */
  startTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The name is in parentheses and may itself contain spaces and parentheses, so
 * the fields are split after the last ")".
 */
export function parsePidStat(text: string, file = '/proc/<pid>/stat'): PidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fast = open > 0 && close > open ? scanPidStat(text, open, close) : undefined;
  if (fast) return fast;
  const line = { number: 1, text: text.trim() };
  if (open < 0 || close < open) throw new ParseError(file, 'expected "pid (name) state …"', line);
  const f = fieldsOf(text.slice(close + 1));
  // f[0] is field 3 (state) of proc(5); field n is f[n - 3].
  if (f.length < 20) throw new ParseError(file, `expected at least 22 fields, got ${f.length + 2}`, line);
  const n = (field: number, what: string): number => parseCount(f[field - 3], file, what, line);
  return {
    pid: parseCount(text.slice(0, open).trim(), file, 'pid', line),
    comm: text.slice(open + 1, close),
    state: f[0]!,
    ppid: n(4, 'ppid'),
    utimeTicks: n(14, 'utime'),
    stimeTicks: n(15, 'stime'),
    threads: n(20, 'num_threads'),
    startTicks: n(22, 'starttime'),
  };
}

/**
 * The fields of a well-formed stat line read in place, without splitting it into its fifty tokens (this
 * runs for every watched process on every collection). Anything unexpected — a field that is not a plain
 * count, a missing one, another separator than single spaces — gives undefined, and the general parser
 * above decides (and names what is wrong).
 */
function scanPidStat(text: string, open: number, close: number): PidStat | undefined {
  let pid = 0;
  for (let i = 0; i < open - 1; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    pid = pid * 10 + d;
  }
  if (open < 2 || text.charCodeAt(open - 1) !== 32 || text.charCodeAt(close + 1) !== 32) return undefined;
  // Field 3 (state) starts after ") "; fields are single-space separated from there on.
  let at = close + 2;
  const stateEnd = text.indexOf(' ', at);
  if (stateEnd <= at) return undefined;
  const state = text.slice(at, stateEnd);
  at = stateEnd + 1;
  let ppid = -1;
  let utime = -1;
  let stime = -1;
  let threads = -1;
  let start = -1;
  for (let field = 4; field <= 22; field++) {
    let v = 0;
    let digits = 0;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c >= 48 && c <= 57) {
        v = v * 10 + (c - 48);
        digits++;
        at++;
      } else break;
    }
    const sep = text.charCodeAt(at);
    // Every counted field is followed by a space, or ends the line at the last one read (field 22).
    if (digits === 0 || !(sep === 32 || (field === 22 && (sep === 10 || Number.isNaN(sep)))))
      return undefined;
    at++;
    if (field === 4) ppid = v;
    else if (field === 14) utime = v;
    else if (field === 15) stime = v;
    else if (field === 20) threads = v;
    else if (field === 22) start = v;
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(utime) || !Number.isSafeInteger(stime))
    return undefined;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state,
    ppid,
    utimeTicks: utime,
    stimeTicks: stime,
    threads,
    startTicks: start,
  };
}

/** Resident memory from /proc/<pid>/status (VmRSS, kB), in bytes. */
export function parseStatusRss(text: string): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  // Kernel threads and zombies have no address space and no VmRSS line: resident memory is truly zero.
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * Resident memory from /proc/<pid>/statm (second field, in pages), in bytes: the same sum of file, shmem
 * and anonymous pages as VmRSS in status, from a file the kernel makes for a fraction of status's cost.
 */
export function parseStatmRss(text: string, pageSize: number, file = '/proc/<pid>/statm'): number {
  const f = fieldsOf(text);
  return parseCount(f[1], file, 'resident', { number: 1, text }) * pageSize;
}

/** AT_PAGESZ of the ELF auxiliary vector (/proc/self/auxv: pairs of native words, type then value). */
const atPageSize = 6;

/** The kernel's page size from a binary auxv, or undefined when it cannot be told (not a 64-bit vector). */
export function pageSizeFromAuxv(auxv: Buffer, littleEndian: boolean): number | undefined {
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    const type = littleEndian ? auxv.readBigUInt64LE(at) : auxv.readBigUInt64BE(at);
    if (type === 0n) return undefined;
    if (type === BigInt(atPageSize)) {
      const v = Number(littleEndian ? auxv.readBigUInt64LE(at + 8) : auxv.readBigUInt64BE(at + 8));
      return v > 0 && (v & (v - 1)) === 0 ? v : undefined;
    }
  }
  return undefined;
}

const pageSizes = new Map<string, number | undefined>();

/** The page size of the host behind a procfs root (asked once per root); undefined: read status instead. */
function pageSizeOf(procRoot: string): number | undefined {
  if (pageSizes.has(procRoot)) return pageSizes.get(procRoot);
  let size: number | undefined;
  // Only on 64-bit builds: a 32-bit auxv has 8-byte entries.
  if (isProcfs(procRoot) && ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64'].includes(process.arch)) {
    try {
      size = pageSizeFromAuxv(readFileSync(`${procRoot}/self/auxv`), endianness() === 'LE');
    } catch {
      size = undefined;
    }
  }
  pageSizes.set(procRoot, size);
  return size;
}

/** The first number of /proc/uptime: seconds since boot. */
export function parseUptime(text: string): number {
  const f = fieldsOf(text);
  const v = Number(f[0]);
  if (f[0] === undefined || !Number.isFinite(v)) {
    throw new ParseError('/proc/uptime', 'expected seconds since boot', { number: 1, text });
  }
  return v;
}

/** The btime line of /proc/stat: boot time, seconds since the epoch. */
export function parseBootTime(statText: string): number {
  const m = /^btime (\d+)$/m.exec(statText);
  if (!m) throw new ParseError('/proc/stat', 'no btime line');
  return Number(m[1]);
}

const stateNames: Record<string, string> = {
  R: 'running',
  S: 'sleeping',
  D: 'disk-sleep',
  Z: 'zombie',
  T: 'stopped',
  t: 'tracing-stop',
  X: 'dead',
  x: 'dead',
  I: 'idle',
  K: 'wakekill',
  W: 'waking',
  P: 'parked',
};

export function stateName(letter: string): string {
  return stateNames[letter] ?? letter;
}

/** A process as one collection saw it. */
export interface ProcessSample {
  stat: PidStat;
  /** NUL-separated arguments joined with spaces; '' for kernel threads and zombies. */
  cmdline: string;
  rssBytes: number;
  /** null when /proc/<pid>/fd is not readable (another user's process, agent not root). */
  fds: number | null;
}

const procSuperMagic = 0x9fa0;
const procfsRoots = new Map<string, boolean>();

/** Whether `root` is a mounted procfs (asked once per root). */
function isProcfs(root: string): boolean {
  let known = procfsRoots.get(root);
  if (known === undefined) {
    try {
      known = statfsSync(root).type === procSuperMagic;
    } catch {
      known = false;
    }
    procfsRoots.set(root, known);
  }
  return known;
}

/** Whether a process (its name and, when read, its command line) matches a watch. */
export function matchesWatch(watch: ProcessWatch, p: { comm: string; cmdline: string }): boolean {
  if (watch.pattern) return watch.pattern.test(p.cmdline === '' ? p.comm : p.cmdline);
  const name = watch.name!;
  if (name.length <= commLength) return p.comm === name;
  if (p.comm !== name.slice(0, commLength)) return false;
  const argv0 = p.cmdline.split(' ', 1)[0] ?? '';
  return argv0.slice(argv0.lastIndexOf('/') + 1) === name;
}

export interface WatchResult {
  watch: ProcessWatch;
  members: ProcessSample[];
}

/**
 * One host_process row per watch. `cpuRates` maps a process key (see `processKey`) to its CPU % over the
 * last interval, for the processes seen at both ends of it.
 */
export function processRows(
  results: WatchResult[],
  cpuRates: Map<string, number>,
  uptimeSeconds: number,
): Row[] {
  return results.map(({ watch, members }) => {
    if (members.length === 0) {
      return {
        watch: watch.spec,
        up: false,
        processes: 0,
        pid: null,
        state: 'missing',
        cpu_pct: null,
        rss_bytes: null,
        fds: null,
        threads: null,
        uptime_s: null,
      };
    }
    const oldest = oldestOf(members);
    let cpu: number | null = null;
    let rss = 0;
    let fds: number | null = 0;
    let threads = 0;
    for (const m of members) {
      const r = cpuRates.get(processKey(m.stat));
      if (r !== undefined) cpu = (cpu ?? 0) + r;
      rss += m.rssBytes;
      fds = fds === null || m.fds === null ? null : fds + m.fds;
      threads += m.stat.threads;
    }
    return {
      watch: watch.spec,
      up: true,
      processes: members.length,
      pid: oldest.stat.pid,
      state: stateName(oldest.stat.state),
      cpu_pct: cpu,
      rss_bytes: rss,
      fds,
      threads,
      uptime_s: Math.max(0, uptimeSeconds - oldest.stat.startTicks / USER_HZ),
    };
  });
}

export function oldestOf(members: ProcessSample[]): ProcessSample {
  return members.reduce((a, b) =>
    b.stat.startTicks < a.stat.startTicks ||
    (b.stat.startTicks === a.stat.startTicks && b.stat.pid < a.stat.pid)
      ? b
      : a,
  );
}

/** pid plus start time: a pid the kernel reuses for a new process is a new key. */
export function processKey(stat: PidStat): string {
  return `${stat.pid}:${stat.startTicks}`;
}

/** Descriptors kept open for one matching process (see the module header). */
interface KeptFiles {
  stat: number;
  /** statm when the page size is known, else status. */
  memory: number;
  /** The page size statm's counts are multiplied by; undefined: `memory` is status. */
  pageSize: number | undefined;
  /** The fd directory; undefined while it cannot be opened (another user's process, agent not root). */
  fdDir: number | undefined;
}

/** At most this many processes keep their files open: three descriptors each. */
const maxKeptProcesses = 128;

function closeKept(k: KeptFiles): void {
  for (const fd of [k.stat, k.memory, k.fdDir]) {
    if (fd === undefined) continue;
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing held
    }
  }
}

export interface ProcessCollectorOptions {
  watches: ProcessWatch[];
  /** Never matched (the agent itself); defaults to this process. */
  selfPid?: number;
  /** Longest time a remembered process name is trusted before every name is read again (default 60 s). */
  fullScanMs?: number;
}

export function createProcessCollector(options: ProcessCollectorOptions): Collector {
  const watches = options.watches;
  const selfPid = options.selfPid ?? process.pid;
  const patterns = watches.some((w) => w.pattern !== undefined);
  /** Without patterns, a process whose comm is none of these cannot match and is dropped at once. */
  const comms = new Set(watches.filter((w) => w.name !== undefined).map((w) => w.name!.slice(0, commLength)));
  const longNames = watches
    .filter((w) => (w.name?.length ?? 0) > commLength)
    .map((w) => w.name!.slice(0, commLength));
  const fullScanMs = options.fullScanMs ?? 60_000;
  /** comm by pid as last read; `confirmed` once two reads agreed (see the module header). */
  const commByPid = new Map<number, { comm: string; confirmed: boolean }>();
  let lastFullScanAt = Number.NEGATIVE_INFINITY;
  /** Whether this collection re-reads every remembered name (a full scan). */
  let fullScan = false;
  /** Boot time from /proc/stat, read again at every full scan (it only moves when the clock is set). */
  let bootTime: number | undefined;
  const kept = new Map<number, KeptFiles>();
  const counters = new CounterTracker();
  /** Per watch, CPU seconds summed over the increases seen so far (a counter that never goes back). */
  const cpuSecondsTotal = new Map<string, number>();

  /** Whether an error means the process exited while being read. */
  const gone = (err: unknown): boolean => isMissing(err) || errnoCode(err) === 'ESRCH';

  async function cmdlineOf(procRoot: string, pid: number): Promise<string | undefined> {
    try {
      return (await readUnder(procRoot, `${pid}/cmdline`)).replace(/\0+$/, '').replaceAll('\0', ' ');
    } catch (err) {
      if (gone(err)) return undefined;
      throw err;
    }
  }

  /** The fd count of a process from its fd directory (open descriptor or path). */
  function fdCount(procRoot: string, pid: number, dirFd: number | undefined): number {
    // Since Linux 6.2 the size of /proc/<pid>/fd is its number of open files: one stat instead of
    // listing the directory (a third of this process's cost). Older kernels say 0: list it then.
    const size = dirFd !== undefined ? fstatSync(dirFd).size : 0;
    return size > 0 ? size : readdirSync(`${procRoot}/${pid}/fd`).length;
  }

  /** stat and status text and fd count through descriptors kept open; undefined when the process is gone. */
  function readKept(
    procRoot: string,
    pid: number,
    k: KeptFiles,
  ): [string, string, number | null] | undefined {
    try {
      const statText = rereadKernelFile(k.stat, `/proc/${pid}/stat`);
      const memoryText = rereadKernelFile(
        k.memory,
        `/proc/${pid}/${k.pageSize === undefined ? 'status' : 'statm'}`,
      );
      if (k.fdDir === undefined) {
        try {
          k.fdDir = openSync(`${procRoot}/${pid}/fd`, 'r');
        } catch (err) {
          if (errnoCode(err) !== 'EACCES' && errnoCode(err) !== 'EPERM') throw err;
          return [statText, memoryText, null];
        }
      }
      return [statText, memoryText, fdCount(procRoot, pid, k.fdDir)];
    } catch (err) {
      if (gone(err)) return undefined;
      throw err;
    }
  }

  /** stat, status and fd of a matching process; undefined when it exited while being read. */
  function sample(procRoot: string, pid: number, cmdline: string): ProcessSample | undefined {
    let texts: [string, string, number | null] | undefined;
    const k = kept.get(pid);
    if (k) {
      texts = readKept(procRoot, pid, k);
      // Gone, or its pid now belongs to another process: open the new one's files by path below.
      if (!texts) {
        closeKept(k);
        kept.delete(pid);
      }
    }
    if (!texts && isProcfs(procRoot) && kept.size < maxKeptProcesses) {
      let fresh: KeptFiles | undefined;
      try {
        const pageSize = pageSizeOf(procRoot);
        fresh = {
          stat: openSync(`${procRoot}/${pid}/stat`, 'r'),
          memory: Number.NaN,
          pageSize,
          fdDir: undefined,
        };
        fresh.memory = openSync(`${procRoot}/${pid}/${pageSize === undefined ? 'status' : 'statm'}`, 'r');
      } catch (err) {
        if (fresh && !Number.isNaN(fresh.stat)) closeSync(fresh.stat);
        if (gone(err)) return undefined;
        throw err;
      }
      texts = readKept(procRoot, pid, fresh);
      if (!texts) {
        closeKept(fresh);
        return undefined;
      }
      kept.set(pid, fresh);
    }
    const pageSize = kept.get(pid)?.pageSize;
    let stat: PidStat;
    let rssBytes: number;
    let fds: number | null;
    if (texts) {
      stat = parsePidStat(texts[0], `/proc/${pid}/stat`);
      rssBytes =
        pageSize === undefined
          ? parseStatusRss(texts[1])
          : parseStatmRss(texts[1], pageSize, `/proc/${pid}/statm`);
      fds = texts[2];
    } else {
      try {
        stat = parsePidStat(readKernelFile(procRoot, `${pid}/stat`), `/proc/${pid}/stat`);
        rssBytes = parseStatusRss(readKernelFile(procRoot, `${pid}/status`));
      } catch (err) {
        if (gone(err)) return undefined;
        throw err;
      }
      try {
        const size = isProcfs(procRoot) ? statSync(`${procRoot}/${pid}/fd`).size : 0;
        fds = size > 0 ? size : readdirSync(`${procRoot}/${pid}/fd`).length;
      } catch (err) {
        if (gone(err)) return undefined;
        if (errnoCode(err) !== 'EACCES' && errnoCode(err) !== 'EPERM') throw err;
        fds = null;
      }
    }
    return { stat, cmdline, rssBytes, fds };
  }

  return {
    name: 'process',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      // Matching reads the cheapest file that decides it: comm for names (half the kernel's cost of
      // generating stat), cmdline only when a pattern or a long name needs it. Only matches get stat,
      // status and fd read.
      const startedAt = ctx.monotonic();
      fullScan = startedAt - lastFullScanAt >= fullScanMs;
      if (fullScan) {
        lastFullScanAt = startedAt;
        bootTime = undefined;
      }
      const present = new Set<number>();
      const candidates: Array<{ pid: number; comm: string; cmdline: string }> = [];
      for (const entry of readdirSync(ctx.procRoot)) {
        if (!/^\d+$/.test(entry)) continue;
        const pid = Number(entry);
        if (pid === selfPid) continue;
        present.add(pid);
        const known = commByPid.get(pid);
        let comm: string;
        if (known?.confirmed && !fullScan) {
          comm = known.comm;
        } else {
          try {
            const raw = readKernelFile(ctx.procRoot, `${entry}/comm`);
            comm = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
          } catch (err) {
            if (gone(err)) continue;
            throw err;
          }
          // A full scan reads each name once: one that is still what two earlier reads agreed on stays
          // trusted; a changed one is read again next time, like a new pid's.
          commByPid.set(pid, { comm, confirmed: known?.comm === comm });
        }
        if (patterns || comms.has(comm)) candidates.push({ pid, comm, cmdline: '' });
      }
      for (const pid of commByPid.keys()) if (!present.has(pid)) commByPid.delete(pid);
      const needCmdline = candidates.filter((c) => patterns || longNames.includes(c.comm));
      await Promise.all(
        needCmdline.map(async (c) => {
          c.cmdline = (await cmdlineOf(ctx.procRoot, c.pid)) ?? '';
        }),
      );

      const sampled = new Map<number, ProcessSample | undefined>();
      const sampleOf = (c: { pid: number; comm: string; cmdline: string }): ProcessSample | undefined => {
        if (!sampled.has(c.pid)) {
          const s = sample(ctx.procRoot, c.pid, c.cmdline);
          // stat carries the current name: a matching process that was renamed since it was remembered
          // is corrected here, on the collection that notices it.
          if (s && s.stat.comm !== c.comm) {
            commByPid.set(c.pid, { comm: s.stat.comm, confirmed: false });
            c.comm = s.stat.comm;
          }
          sampled.set(c.pid, s);
        }
        return sampled.get(c.pid);
      };
      const results: WatchResult[] = watches.map((watch) => {
        const members: ProcessSample[] = [];
        for (const c of candidates) {
          if (!matchesWatch(watch, c)) continue;
          const s = sampleOf(c);
          // Re-checked with the name just read, in case it changed.
          if (s && matchesWatch(watch, c)) members.push(s);
        }
        return { watch, members };
      });
      const atMs = ctx.monotonic();
      const ts = ctx.now();
      const uptime = parseUptime(readKernelFile(ctx.procRoot, 'uptime'));
      bootTime ??= parseBootTime(readKernelFile(ctx.procRoot, 'stat'));
      // Files of processes no longer sampled (exited, renamed away) are let go.
      for (const [pid, k] of kept) {
        if (!sampled.get(pid)) {
          closeKept(k);
          kept.delete(pid);
        }
      }

      // Each process's CPU once, however many watches it matches.
      const cpuRates = new Map<string, number>();
      const cpuDeltas = new Map<string, number>();
      for (const s of sampled.values()) {
        if (!s) continue;
        const key = processKey(s.stat);
        const d = counters.delta(key, s.stat.utimeTicks + s.stat.stimeTicks, atMs);
        if (d === null) continue;
        cpuRates.set(key, (d.delta * 100) / (USER_HZ * d.seconds));
        cpuDeltas.set(key, d.delta / USER_HZ);
      }
      counters.sweep();
      for (const { watch, members } of results) {
        let total = cpuSecondsTotal.get(watch.spec) ?? 0;
        for (const m of members) total += cpuDeltas.get(processKey(m.stat)) ?? 0;
        cpuSecondsTotal.set(watch.spec, total);
      }

      ctx.expose?.(processExposition(results, cpuSecondsTotal, bootTime));
      return [{ family: 'host_process', ts, rows: processRows(results, cpuRates, uptime) }];
    },
    async close() {
      for (const k of kept.values()) closeKept(k);
      kept.clear();
    },
  };
}

export function processExposition(
  results: WatchResult[],
  cpuSecondsTotal: Map<string, number>,
  bootTimeSeconds: number,
): ExposedMetric[] {
  const gauge = (name: string, help: string): ExposedMetric => ({ name, help, type: 'gauge', samples: [] });
  const up = gauge('pgvigil_process_up', 'Whether at least one process matches the watch (0 = missing).');
  const matching = gauge('pgvigil_process_matching_processes', 'Processes matching the watch.');
  const cpu: ExposedMetric = {
    name: 'pgvigil_process_cpu_seconds_total',
    help: 'CPU seconds used by the processes matching the watch, counted since the agent started watching.',
    type: 'counter',
    samples: [],
  };
  const rss = gauge(
    'pgvigil_process_resident_memory_bytes',
    'Resident memory of the matching processes, summed.',
  );
  const fds = gauge('pgvigil_process_open_fds', 'Open file descriptors of the matching processes, summed.');
  const threads = gauge('pgvigil_process_threads', 'Threads of the matching processes, summed.');
  const start = gauge(
    'pgvigil_process_start_time_seconds',
    'Start time of the oldest matching process, seconds since the epoch.',
  );
  for (const { watch, members } of results) {
    const labels = { watch: watch.spec };
    up.samples.push({ labels, value: members.length > 0 ? 1 : 0 });
    matching.samples.push({ labels, value: members.length });
    cpu.samples.push({ labels, value: cpuSecondsTotal.get(watch.spec) ?? 0 });
    if (members.length === 0) continue;
    let fdSum: number | null = 0;
    for (const m of members) fdSum = fdSum === null || m.fds === null ? null : fdSum + m.fds;
    rss.samples.push({ labels, value: members.reduce((a, m) => a + m.rssBytes, 0) });
    if (fdSum !== null) fds.samples.push({ labels, value: fdSum });
    threads.samples.push({ labels, value: members.reduce((a, m) => a + m.stat.threads, 0) });
    start.samples.push({ labels, value: bootTimeSeconds + oldestOf(members).stat.startTicks / USER_HZ });
  }
  return [up, matching, cpu, rss, fds, threads, start].filter((m) => m.samples.length > 0);
}
