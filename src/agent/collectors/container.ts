/**
 * Containers, found in the cgroup tree under <sys-root>/fs/cgroup, cgroup v2 (unified) or v1 (one
 * hierarchy per controller; the "hybrid" layout, v1 controllers plus an empty unified tree, reads as v1).
 *
 * A cgroup is a container when its name says which runtime made it:
 *   docker   docker-<id>.scope (systemd driver), docker/<id> (cgroupfs driver)
 *   podman   libpod-<id>.scope (rootful or rootless, systemd driver), libpod_parent/libpod-<id> (cgroupfs)
 *   CRI      cri-containerd-<id>.scope, crio-<id>.scope
 *   systemd-nspawn / machinectl   machine.slice/machine-<name>.scope
 * Conmon's own scopes (libpod-conmon-…, crio-conmon-…) are helpers, not containers. The tree is walked on
 * every collection (a few hundred directory reads on a busy host), so a container is seen on the first
 * collection after it starts; the walk does not descend into a container (its nested cgroups are its own
 * business, and v2 counters are hierarchical anyway).
 *
 * Per container: CPU % of one core over the last interval, memory charged now and its limit (null when
 * unlimited), block I/O bytes per second, tasks. A controller not enabled for a cgroup leaves its columns
 * null (not 0). The exposition holds the raw counters (pgvigil_container_*).
 */
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CounterTracker } from '../rates.js';
import { fieldsOf, isMissing, linesOf, ParseError, parseCount, readKernelFile } from './proc.js';
import { type Collector, type ExposedMetric, NotApplicableError, type Row } from './types.js';

export type ContainerRuntime = 'docker' | 'podman' | 'containerd' | 'crio' | 'systemd-nspawn';

export interface ContainerIdentity {
  runtime: ContainerRuntime;
  id: string;
}

const hex64 = '[0-9a-f]{64}';
const scopeRules: Array<[RegExp, ContainerRuntime]> = [
  [new RegExp(`^docker-(${hex64})\\.scope$`), 'docker'],
  [new RegExp(`^libpod-(${hex64})\\.scope$`), 'podman'],
  [new RegExp(`^cri-containerd-(${hex64})\\.scope$`), 'containerd'],
  [new RegExp(`^crio-(${hex64})\\.scope$`), 'crio'],
];
const bareId = new RegExp(`^${hex64}$`);
const libpodCgroupfs = new RegExp(`^libpod-(${hex64})$`);

/** systemd escapes unit names: "-" inside a name becomes \x2d. */
function unescapeSystemd(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Which runtime made the cgroup at `relPath` ("/system.slice/docker-<id>.scope"), or null. */
export function identifyContainer(relPath: string): ContainerIdentity | null {
  const parts = relPath.split('/').filter((p) => p !== '');
  const name = parts.at(-1);
  const parent = parts.at(-2);
  if (name === undefined) return null;
  for (const [re, runtime] of scopeRules) {
    const m = re.exec(name);
    if (m) return { runtime, id: m[1]! };
  }
  if (parent === 'docker' && bareId.test(name)) return { runtime: 'docker', id: name };
  if (parent === 'libpod_parent') {
    const m = libpodCgroupfs.exec(name);
    if (m) return { runtime: 'podman', id: m[1]! };
  }
  if (parent === 'machine.slice') {
    const m = /^machine-(.+)\.scope$/.exec(name);
    // libpod-… scopes also live in machine.slice; those matched above.
    if (m) return { runtime: 'systemd-nspawn', id: unescapeSystemd(m[1]!) };
  }
  return null;
}

export type CgroupLayout =
  | { version: 2; root: string }
  | { version: 1; cpuacct: string | null; memory: string | null; blkio: string | null; pids: string | null };

/** Without throwing for a missing path: this runs on every collection, and exceptions are not cheap. */
function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** Finds how cgroups are mounted under <sysRoot>/fs/cgroup; NotApplicableError when they are not. */
export function detectCgroupLayout(sysRoot: string): CgroupLayout {
  const base = join(sysRoot, 'fs/cgroup');
  if (statSync(join(base, 'cgroup.controllers'), { throwIfNoEntry: false }))
    return { version: 2, root: base };
  const first = (...names: string[]): string | null => {
    for (const n of names) if (isDirectory(join(base, n))) return join(base, n);
    return null;
  };
  const layout: CgroupLayout = {
    version: 1,
    cpuacct: first('cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'),
    memory: first('memory'),
    blkio: first('blkio'),
    pids: first('pids'),
  };
  if (!layout.cpuacct && !layout.memory) {
    throw new NotApplicableError(`no cgroup v2 or v1 (cpuacct, memory) hierarchy under ${base}`);
  }
  return layout;
}

/** Walks a cgroup hierarchy for container cgroups (paths relative to `root`, starting with "/"). */
export function findContainerCgroups(root: string, maxDepth = 8): Map<string, ContainerIdentity> {
  const found = new Map<string, ContainerIdentity>();
  function walk(rel: string, depth: number): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch (err) {
      // A cgroup removed while walking (a container stopping) is simply gone.
      if (isMissing(err)) return;
      throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = `${rel === '/' ? '' : rel}/${e.name}`;
      const id = identifyContainer(child);
      if (id) found.set(child, id);
      else if (depth < maxDepth) walk(child, depth + 1);
    }
  }
  walk('/', 1);
  return found;
}

/** A file of one number ("123\n"). */
export function parseSingleNumber(text: string, file: string): number {
  const t = text.trim();
  return parseCount(t, file, 'value', { number: 1, text: t });
}

/** v2 cpu.stat: usage_usec (total CPU time, µs). */
export function parseCpuStatV2(text: string, file = 'cpu.stat'): { usageUsec: number } {
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    if (f[0] === 'usage_usec') return { usageUsec: parseCount(f[1], file, 'usage_usec', line) };
  }
  throw new ParseError(file, 'no usage_usec line');
}

/** v2 memory.max: "max" (no limit) or bytes. */
export function parseMemoryMax(text: string, file = 'memory.max'): number | null {
  return text.trim() === 'max' ? null : parseSingleNumber(text, file);
}

/**
 * v1 memory.limit_in_bytes: "no limit" is the page counter's maximum rounded to pages (9223372036854771712
 * with 4 KiB pages), so anything from 2^60 bytes up is read as unlimited.
 */
export function parseMemoryLimitV1(text: string, file = 'memory.limit_in_bytes'): number | null {
  const v = parseSingleNumber(text, file);
  return v >= 2 ** 60 ? null : v;
}

export interface IoBytes {
  readBytes: number;
  writeBytes: number;
}

/** v2 io.stat: "MAJ:MIN rbytes=… wbytes=… rios=… …" per device, summed. No lines = no I/O yet. */
export function parseIoStatV2(text: string, file = 'io.stat'): IoBytes {
  const out = { readBytes: 0, writeBytes: 0 };
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    if (!/^\d+:\d+$/.test(f[0] ?? '')) throw new ParseError(file, 'expected "major:minor key=value …"', line);
    for (const kv of f.slice(1)) {
      const [k, v] = kv.split('=');
      if (k === 'rbytes') out.readBytes += parseCount(v, file, 'rbytes', line);
      else if (k === 'wbytes') out.writeBytes += parseCount(v, file, 'wbytes', line);
    }
  }
  return out;
}

/** v1 blkio.*io_service_bytes: "MAJ:MIN Read N" / "Write N" per device (plus Sync, Async, Total lines). */
export function parseBlkioServiceBytes(text: string, file = 'blkio.throttle.io_service_bytes'): IoBytes {
  const out = { readBytes: 0, writeBytes: 0 };
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    if (f[0] === 'Total' && f.length === 2) continue;
    if (f.length !== 3 || !/^\d+:\d+$/.test(f[0]!))
      throw new ParseError(file, 'expected "major:minor Op bytes"', line);
    if (f[1] === 'Read') out.readBytes += parseCount(f[2], file, 'Read', line);
    else if (f[1] === 'Write') out.writeBytes += parseCount(f[2], file, 'Write', line);
  }
  return out;
}

export interface ContainerSample {
  identity: ContainerIdentity;
  cgroup: string;
  /**
   * Cumulative CPU time in the kernel's unit (µs in v2, ns in v1), kept as read so rates are exact; null
   * when the cpu controller is not enabled there.
   */
  cpu: { total: number; perSecond: number } | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  io: IoBytes | null;
  pids: number | null;
}

/** Reads a file, or null when it does not exist (the controller is not enabled for that cgroup). */
function optional<T>(path: string, parse: (text: string, file: string) => T): T | null {
  let text: string;
  try {
    text = readKernelFile(path, '');
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  return parse(text, path);
}

function readV2(root: string, cgroup: string, identity: ContainerIdentity): ContainerSample {
  const dir = join(root, cgroup);
  const cpu = optional(join(dir, 'cpu.stat'), parseCpuStatV2);
  const memory = optional(join(dir, 'memory.current'), parseSingleNumber);
  const limit = optional(join(dir, 'memory.max'), (t, f) => ({ limit: parseMemoryMax(t, f) }));
  const io = optional(join(dir, 'io.stat'), parseIoStatV2);
  const pids = optional(join(dir, 'pids.current'), parseSingleNumber);
  return {
    identity,
    cgroup,
    cpu: cpu && { total: cpu.usageUsec, perSecond: 1e6 },
    memoryBytes: memory,
    memoryLimitBytes: limit?.limit ?? null,
    io,
    pids,
  };
}

function readV1(
  layout: Extract<CgroupLayout, { version: 1 }>,
  cgroup: string,
  identity: ContainerIdentity,
): ContainerSample {
  const read = <T>(root: string | null, name: string, parse: (t: string, f: string) => T): T | null =>
    root ? optional(join(root, cgroup, name), parse) : null;
  const usageNs = read(layout.cpuacct, 'cpuacct.usage', parseSingleNumber);
  const memory = read(layout.memory, 'memory.usage_in_bytes', parseSingleNumber);
  const limit = read(layout.memory, 'memory.limit_in_bytes', (t, f) => ({ limit: parseMemoryLimitV1(t, f) }));
  const io =
    read(layout.blkio, 'blkio.throttle.io_service_bytes_recursive', parseBlkioServiceBytes) ??
    read(layout.blkio, 'blkio.throttle.io_service_bytes', parseBlkioServiceBytes);
  const pids = read(layout.pids, 'pids.current', parseSingleNumber);
  return {
    identity,
    cgroup,
    cpu: usageNs === null ? null : { total: usageNs, perSecond: 1e9 },
    memoryBytes: memory,
    memoryLimitBytes: limit?.limit ?? null,
    io,
    pids,
  };
}

/** Every container under the layout, with its counters, in cgroup path order. */
export function readContainers(layout: CgroupLayout): ContainerSample[] {
  // readdir order is the filesystem's; sorting keeps the output stable.
  const sorted = (found: Map<string, ContainerIdentity>) =>
    [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (layout.version === 2) {
    return sorted(findContainerCgroups(layout.root)).map(([cgroup, id]) => readV2(layout.root, cgroup, id));
  }
  // Runtimes create the same path in every v1 hierarchy; walk the two that matter and take the union.
  const found = new Map<string, ContainerIdentity>();
  for (const root of [layout.cpuacct, layout.memory]) {
    if (root) for (const [k, v] of findContainerCgroups(root)) found.set(k, v);
  }
  return sorted(found).map(([cgroup, id]) => readV1(layout, cgroup, id));
}

export function containerRows(samples: ContainerSample[], counters: CounterTracker, atMs: number): Row[] {
  const rows = samples.map((s) => {
    const key = `${s.identity.runtime}:${s.identity.id}`;
    const cpu = counters.delta(`${key}:cpu`, s.cpu?.total, atMs);
    return {
      runtime: s.identity.runtime,
      id: s.identity.id,
      cgroup: s.cgroup,
      cpu_pct: cpu && s.cpu && (cpu.delta * 100) / (s.cpu.perSecond * cpu.seconds),
      memory_current_bytes: s.memoryBytes,
      memory_limit_bytes: s.memoryLimitBytes,
      io_read_bytes_per_s: counters.rate(`${key}:io_read`, s.io?.readBytes, atMs),
      io_write_bytes_per_s: counters.rate(`${key}:io_write`, s.io?.writeBytes, atMs),
      pids: s.pids,
    };
  });
  counters.sweep();
  return rows;
}

export function containerExposition(samples: ContainerSample[]): ExposedMetric[] {
  const m = (name: string, help: string, type: 'counter' | 'gauge'): ExposedMetric => ({
    name,
    help,
    type,
    samples: [],
  });
  const cpu = m('pgvigil_container_cpu_seconds_total', 'CPU time used by the container.', 'counter');
  const mem = m(
    'pgvigil_container_memory_usage_bytes',
    'Memory charged to the container, page cache included.',
    'gauge',
  );
  const limit = m(
    'pgvigil_container_memory_limit_bytes',
    'Memory limit of the container (absent when unlimited).',
    'gauge',
  );
  const read = m(
    'pgvigil_container_io_read_bytes_total',
    'Bytes the container read from block devices.',
    'counter',
  );
  const written = m(
    'pgvigil_container_io_written_bytes_total',
    'Bytes the container wrote to block devices.',
    'counter',
  );
  const pids = m('pgvigil_container_pids', 'Tasks in the container.', 'gauge');
  for (const s of samples) {
    const labels = { runtime: s.identity.runtime, id: s.identity.id };
    if (s.cpu !== null) cpu.samples.push({ labels, value: s.cpu.total / s.cpu.perSecond });
    if (s.memoryBytes !== null) mem.samples.push({ labels, value: s.memoryBytes });
    if (s.memoryLimitBytes !== null) limit.samples.push({ labels, value: s.memoryLimitBytes });
    if (s.io) {
      read.samples.push({ labels, value: s.io.readBytes });
      written.samples.push({ labels, value: s.io.writeBytes });
    }
    if (s.pids !== null) pids.samples.push({ labels, value: s.pids });
  }
  return [cpu, mem, limit, read, written, pids].filter((x) => x.samples.length > 0);
}

export function createContainerCollector(): Collector {
  const counters = new CounterTracker();
  return {
    name: 'container',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      const layout = detectCgroupLayout(ctx.sysRoot);
      const samples = readContainers(layout);
      const atMs = ctx.monotonic();
      const ts = ctx.now();
      ctx.expose?.(containerExposition(samples));
      return [{ family: 'host_container', ts, rows: containerRows(samples, counters, atMs) }];
    },
  };
}
