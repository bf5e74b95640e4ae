/**
 * The live feed's summary of one ingested batch, computed from the validated batch before COPY (one pass
 * over the few tables it reads: host_cpu, host_memory, host_load, pg_instance, pg_activity, pg_database,
 * and the target column of the other target families). Pure.
 *
 * The summary travels as a PostgreSQL NOTIFY payload, which must stay under 8000 bytes: it is built to fit
 * `maxNotifyBytes`, leaving out whole target summaries (counted in `targetsOmitted`) when a batch names
 * more targets than fit.
 */
import type { ValidBatch, ValidTable } from '../../protocol/batch.js';
import type { NodeSummary, SampleMessage, TargetSummary, TransactionSummary } from './messages.js';

/** Well under PostgreSQL's 8000-byte NOTIFY payload limit. */
export const maxNotifyBytes = 7000;

const maxNameLength = 200;

function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

/** The row with the newest ts among those `keep` accepts. */
function newest(t: ValidTable, keep: (row: unknown[]) => boolean = () => true): unknown[] | undefined {
  let best: unknown[] | undefined;
  for (const row of t.rows) {
    if (!keep(row)) continue;
    if (best === undefined || (row[t.tsIndex] as number) > (best[t.tsIndex] as number)) best = row;
  }
  return best;
}

function col(t: ValidTable, name: string): (row: unknown[]) => unknown {
  const i = t.columns.indexOf(name);
  return i < 0 ? () => null : (row) => row[i];
}

export function nodeSummary(tables: ReadonlyMap<string, ValidTable>): NodeSummary | null {
  let ts = -1;
  let cpuBusyPct: number | null = null;
  let memoryUsedPct: number | null = null;
  let load: [number | null, number | null, number | null] = [null, null, null];
  const cpu = tables.get('host_cpu');
  if (cpu) {
    const cpuName = col(cpu, 'cpu');
    const row = newest(cpu, (r) => cpuName(r) === 'total');
    if (row) {
      ts = Math.max(ts, row[cpu.tsIndex] as number);
      const idle = num(col(cpu, 'idle_pct')(row));
      const iowait = num(col(cpu, 'iowait_pct')(row));
      if (idle !== null && iowait !== null)
        cpuBusyPct = round2(Math.min(100, Math.max(0, 100 - idle - iowait)));
    }
  }
  const mem = tables.get('host_memory');
  const memRow = mem && newest(mem);
  if (mem && memRow) {
    ts = Math.max(ts, memRow[mem.tsIndex] as number);
    const total = num(col(mem, 'total_bytes')(memRow));
    const used = num(col(mem, 'used_bytes')(memRow));
    if (total !== null && used !== null && total > 0) memoryUsedPct = round2((100 * used) / total);
  }
  const ld = tables.get('host_load');
  const ldRow = ld && newest(ld);
  if (ld && ldRow) {
    ts = Math.max(ts, ldRow[ld.tsIndex] as number);
    load = [num(col(ld, 'load1')(ldRow)), num(col(ld, 'load5')(ldRow)), num(col(ld, 'load15')(ldRow))];
  }
  if (ts < 0) return null;
  return { ts, cpuBusyPct, memoryUsedPct, load1: load[0], load5: load[1], load15: load[2] };
}

interface TargetAcc {
  ts: number;
  instance?: unknown[];
  activity: Array<unknown[]>;
  database: Array<unknown[]>;
}

/** The total at the newest ts, and the in-batch rate between the oldest and newest ts (per database, reset-aware). */
function transactions(t: ValidTable, rows: Array<unknown[]>): TransactionSummary | null {
  const datname = col(t, 'datname');
  const commit = col(t, 'xact_commit');
  const rollback = col(t, 'xact_rollback');
  const byTs = new Map<number, Map<string, number>>();
  for (const row of rows) {
    const c = num(commit(row));
    const r = num(rollback(row));
    if (c === null || r === null) continue;
    const ts = row[t.tsIndex] as number;
    let m = byTs.get(ts);
    if (!m) {
      m = new Map();
      byTs.set(ts, m);
    }
    m.set(String(datname(row)), c + r);
  }
  if (byTs.size === 0) return null;
  const times = [...byTs.keys()].sort((a, b) => a - b);
  const ts = times.at(-1)!;
  const last = byTs.get(ts)!;
  let total = 0;
  for (const v of last.values()) total += v;
  if (times.length < 2) return { ts, total, perSec: null };
  const first = byTs.get(times[0]!)!;
  let delta = 0;
  for (const [db, v] of last) {
    const before = first.get(db);
    if (before === undefined) continue;
    if (v < before) return { ts, total, perSec: null };
    delta += v - before;
  }
  return { ts, total, perSec: round2(delta / ((ts - times[0]!) / 1000)) };
}

export function targetSummaries(batch: ValidBatch, targetIds: ReadonlyMap<string, number>): TargetSummary[] {
  const acc = new Map<string, TargetAcc>();
  const tables = new Map(batch.tables.map((t) => [t.table, t]));
  for (const t of batch.tables) {
    if (t.targetIndex < 0) continue;
    for (const row of t.rows) {
      const name = row[t.targetIndex] as string;
      let a = acc.get(name);
      if (!a) {
        a = { ts: -1, activity: [], database: [] };
        acc.set(name, a);
      }
      const ts = row[t.tsIndex] as number;
      if (ts > a.ts) a.ts = ts;
      if (t.table === 'pg_instance') {
        if (a.instance === undefined || ts > (a.instance[t.tsIndex] as number)) a.instance = row;
      } else if (t.table === 'pg_activity') a.activity.push(row);
      else if (t.table === 'pg_database') a.database.push(row);
    }
  }
  const out: TargetSummary[] = [];
  for (const [name, a] of acc) {
    const targetId = targetIds.get(name);
    if (targetId === undefined) continue;
    const inst = tables.get('pg_instance');
    const act = tables.get('pg_activity');
    const db = tables.get('pg_database');
    let activeBackends: number | null = null;
    let waitingBackends: number | null = null;
    if (act && a.activity.length > 0) {
      const newestTs = Math.max(...a.activity.map((r) => r[act.tsIndex] as number));
      const state = col(act, 'state');
      const count = col(act, 'count');
      const waiting = col(act, 'waiting');
      activeBackends = 0;
      waitingBackends = 0;
      for (const r of a.activity) {
        if ((r[act.tsIndex] as number) !== newestTs) continue;
        if (state(r) === 'active') activeBackends += num(count(r)) ?? 0;
        // null: processes the agent's role may not see; counted among none of the waiting.
        waitingBackends += num(waiting(r)) ?? 0;
      }
    }
    const tx = db && a.database.length > 0 ? transactions(db, a.database) : null;
    const upValue = inst && a.instance ? col(inst, 'up')(a.instance) : null;
    out.push({
      targetId,
      name: name.length > maxNameLength ? `${name.slice(0, maxNameLength - 1)}…` : name,
      ts: a.ts,
      up: typeof upValue === 'boolean' ? upValue : null,
      backends: inst && a.instance ? num(col(inst, 'backends')(a.instance)) : null,
      activeBackends,
      waitingBackends,
      transactions: tx,
    });
  }
  return out.sort((x, y) => x.targetId - y.targetId);
}

/**
 * The `sample` message of one batch, serialised, at most `maxBytes` long: target summaries that do not
 * fit are left out whole and counted.
 */
export function sampleMessage(
  serverId: number,
  agentId: string,
  batch: ValidBatch,
  targetIds: ReadonlyMap<string, number>,
  maxBytes = maxNotifyBytes,
): { message: SampleMessage; json: string } {
  const tables = new Map<string, ValidTable>();
  const families: string[] = [];
  let ts = 0;
  for (const t of batch.tables) {
    if (t.rows.length === 0) continue;
    tables.set(t.table, t);
    families.push(t.table);
    for (const row of t.rows) if ((row[t.tsIndex] as number) > ts) ts = row[t.tsIndex] as number;
  }
  const message: SampleMessage = {
    type: 'sample',
    serverId,
    agentId,
    seq: batch.seq,
    ts,
    rows: batch.rowCount,
    families,
    node: nodeSummary(tables),
    targets: [],
  };
  const all = targetSummaries({ ...batch, tables: [...tables.values()] }, targetIds);
  // Room for the targets: the message without them, plus the omitted count should it be needed.
  let room = maxBytes - Buffer.byteLength(JSON.stringify(message)) - '"targetsOmitted":00000,'.length;
  for (const t of all) {
    const size = Buffer.byteLength(JSON.stringify(t)) + 1;
    if (size > room) break;
    message.targets.push(t);
    room -= size;
  }
  if (message.targets.length < all.length) message.targetsOmitted = all.length - message.targets.length;
  return { message, json: JSON.stringify(message) };
}
