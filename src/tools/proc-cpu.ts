/**
 * CPU time of processes from /proc, for the benches that report a process's cost per unit of work beside
 * wall time (`pgvigil bench ingest`, bench/baselines.ts, bench/replica-read.ts): a process with its
 * children (the store's postmaster and its backends), the whole machine, and an embedded store's postmaster.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux this runs on). */
const ticksPerS = 100;

/** utime, stime, cutime, cstime and ppid of a process from /proc (undefined once it is gone). */
function procStat(pid: number): { self: number; children: number; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(f[1]),
      self: (Number(f[11]) + Number(f[12])) / ticksPerS,
      children: (Number(f[13]) + Number(f[14])) / ticksPerS,
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by a process and its children: its own, its reaped children's, and its live
 * children's (PostgreSQL's backends are children of the postmaster). The difference of two readings is the
 * CPU used between them, also for a child that exited meanwhile (its time moves into the parent's reaped
 * total).
 */
export function treeCpuSeconds(pid: number): number | undefined {
  const root = procStat(pid);
  if (!root) return undefined;
  let total = root.self + root.children;
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st && st.ppid === pid) total += st.self;
  }
  return total;
}

/**
 * CPU seconds used so far by a process and all its descendants: for it and every live descendant, its own
 * time and that of its reaped children (a PostgreSQL server started by `pgvigil up` is a child, its
 * backends grandchildren, and initdb a reaped child). Undefined once the process is gone.
 */
export function descendantsCpuSeconds(pid: number): number | undefined {
  const root = procStat(pid);
  if (!root) return undefined;
  const children = new Map<number, number[]>();
  const stats = new Map<number, { self: number; children: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (!st) continue;
    stats.set(Number(name), st);
    const list = children.get(st.ppid);
    if (list) list.push(Number(name));
    else children.set(st.ppid, [Number(name)]);
  }
  let total = 0;
  const todo = [pid];
  const seen = new Set<number>();
  while (todo.length > 0) {
    const p = todo.pop() as number;
    if (seen.has(p)) continue;
    seen.add(p);
    const st = p === pid ? root : stats.get(p);
    if (st) total += st.self + st.children;
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** The machine's busy CPU seconds (all processes, everyone's) from /proc/stat. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / ticksPerS;
}

/** The postmaster's pid from its data directory (an embedded store's: this process can read it). */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
