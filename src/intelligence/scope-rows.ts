/**
 * The rows of a freshly written batch, cut by scope (a server's host families; each PostgreSQL target's
 * families) for the ingest checks, with the previous sample of each series so counters become
 * per-interval deltas.
 *
 * Previous samples and per-target settings are remembered per server instance in a bounded map: after a
 * restart, or when another instance took the last batch, a series has no previous sample and its
 * interval checks wait for the next one — never a rate from one sample.
 *
 * Conditions that must hold for a while before they count (CPU busy for 5 minutes, not one 10 s sample)
 * are tracked the same way: `since` remembers, per condition, when it started holding and when it was last
 * seen holding. A gap longer than `sinceMaxGapMs` between two sightings starts it afresh, so an instance
 * that saw only some of a host's batches (another instance took the rest) never bridges a stretch it did
 * not see; after a restart a condition starts afresh too — findings come later, never falsely.
 */
import type { ValidBatch, ValidTable } from '../protocol/batch.js';
import { familyByName } from '../protocol/families/index.js';
import type { HostFacts, Row, RowPair, ScopeRows } from './checks/types.js';

interface Remembered {
  ts: number;
  row: Row;
}

/** Longest gap between two sightings of a holding condition that still counts as "held throughout". */
export const sinceMaxGapMs = 90_000;

/** Bounded memory of the last sample per series and the last settings per target. */
export class SampleMemory {
  private readonly last = new Map<string, Remembered>();
  private readonly settings = new Map<string, Map<string, string>>();
  private readonly hosts = new Map<number, HostFacts>();
  private readonly holding = new Map<string, { since: number; last: number }>();

  /** Families some check asked `pairs` of: only their samples are remembered. */
  readonly pairFamilies = new Set<string>();

  constructor(private readonly maxSeries = 200_000) {}

  /**
   * Records whether a condition holds at `ts` (ms) and returns for how many seconds it has held without a
   * break (0 when it does not hold, or has just started). Sightings must come oldest first; an older one
   * than the last seen is ignored.
   */
  since(key: string, holds: boolean, ts: number): number {
    const had = this.holding.get(key);
    if (had && ts < had.last) return holds ? (had.last - had.since) / 1000 : 0;
    if (!holds) {
      this.holding.delete(key);
      return 0;
    }
    if (had && ts - had.last <= sinceMaxGapMs) {
      had.last = ts;
      return (ts - had.since) / 1000;
    }
    if (!had && this.holding.size >= this.maxSeries) {
      const oldest = this.holding.keys().next().value;
      if (oldest !== undefined) this.holding.delete(oldest);
    }
    this.holding.set(key, { since: ts, last: ts });
    return 0;
  }

  previous(key: string): Remembered | undefined {
    return this.last.get(key);
  }

  remember(key: string, ts: number, row: Row): void {
    const had = this.last.get(key);
    if (had && had.ts >= ts) return;
    if (!had && this.last.size >= this.maxSeries) {
      // Oldest inserted first: Map iteration order. Series of a vanished host age out this way.
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    this.last.set(key, { ts, row });
  }

  settingsOf(targetKey: string): Map<string, string> | undefined {
    return this.settings.get(targetKey);
  }

  storeSettings(targetKey: string, values: Map<string, string>): void {
    if (!this.settings.has(targetKey) && this.settings.size >= 100_000) this.settings.clear();
    this.settings.set(targetKey, values);
  }

  hostOf(serverId: number): HostFacts {
    let h = this.hosts.get(serverId);
    if (!h) {
      if (this.hosts.size >= 200_000) this.hosts.clear();
      h = {};
      this.hosts.set(serverId, h);
    }
    return h;
  }
}

/** The newest snapshot's mounts with both sizes known (a failed statfs sends nulls), bounded. */
function filesystemsOf(rows: readonly Row[]): NonNullable<HostFacts['filesystems']> {
  const newestTs = Math.max(...rows.map((r) => r.ts as number));
  const out: Array<{ mountpoint: string; availBytes: number; sizeBytes: number }> = [];
  for (const r of rows) {
    const availBytes = Number(r.avail_bytes ?? Number.NaN);
    const sizeBytes = Number(r.size_bytes ?? Number.NaN);
    if (r.ts !== newestTs || !Number.isFinite(availBytes) || !Number.isFinite(sizeBytes)) continue;
    out.push({ mountpoint: String(r.mountpoint).slice(0, 500), availBytes, sizeBytes });
    if (out.length >= 64) break;
  }
  return out;
}

type RowMaker = new (values: unknown[]) => Row;

/** Row constructors by family and wire column list (see `rowMaker`); bounded, as agents choose the order. */
const rowMakers = new Map<string, RowMaker>();

/**
 * A constructor of a table's rows: an object per row with each wire column as its own property and no
 * inherited ones (its prototype is an empty object without a prototype), as `Object.create(null)` filled
 * key by key made them. Why a generated constructor: an object filled by computed keys becomes a
 * dictionary (a hash table per row, slow to build, to read and to collect) past a dozen properties, and a
 * statement row has fifty; assignments by name in a constructor give every row of a column list one
 * shape, its values stored inline. The names are the family registry's (validated before:
 * src/protocol/batch.ts), written as JSON string literals.
 */
function rowMaker(t: ValidTable): RowMaker {
  // An agent sends a family's columns in the same order every time: compare with the last list first.
  const last = lastRowMaker.get(t.table);
  if (last && sameColumns(last.columns, t.columns)) return last.make;
  const key = `${t.table}\u0000${t.columns.join('\u0000')}`;
  let make = rowMakers.get(key);
  if (!make) {
    const body = t.columns.map((c, i) => `this[${JSON.stringify(c)}] = v[${i}];`).join('\n');
    make = new Function('v', body) as unknown as RowMaker;
    make.prototype = Object.create(null);
    if (rowMakers.size >= 1_000) rowMakers.clear();
    rowMakers.set(key, make);
  }
  if (familyByName(t.table)) lastRowMaker.set(t.table, { columns: t.columns, make });
  return make;
}

/** Per family (the registry's names only), the last column list seen and its constructor. */
const lastRowMaker = new Map<string, { columns: readonly string[]; make: RowMaker }>();

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const labelsByFamily = new Map<string, readonly string[]>();

/** A family's label columns (asked for every family of every batch: kept once made). */
function labelColumns(table: string): readonly string[] {
  let labels = labelsByFamily.get(table);
  if (!labels) {
    labels = (familyByName(table)?.columns ?? []).filter((c) => c.label).map((c) => c.name);
    // Family names come from the registry (validated batches), so this stays as small as the registry.
    if (familyByName(table)) labelsByFamily.set(table, labels);
  }
  return labels;
}

class BatchScope implements ScopeRows {
  readonly tables = new Map<string, Row[]>();
  private latestCache = new Map<string, Row[]>();
  private pairCache = new Map<string, RowPair[]>();

  constructor(
    readonly serverId: number,
    readonly targetId: number | null,
    readonly targetName: string,
    private readonly memory: SampleMemory,
    readonly host: HostFacts,
  ) {}

  private seriesKey(family: string, row: Row, labels: readonly string[]): string {
    let k = `${this.serverId}|${this.targetId ?? ''}|${family}`;
    for (const l of labels) k += `|${String(row[l] ?? '')}`;
    return k;
  }

  rows(family: string): readonly Row[] {
    return this.tables.get(family) ?? [];
  }

  latest(family: string): readonly Row[] {
    let out = this.latestCache.get(family);
    if (out) return out;
    const labels = labelColumns(family);
    const newest = new Map<string, Row>();
    for (const r of this.rows(family)) {
      const k = this.seriesKey(family, r, labels);
      const had = newest.get(k);
      if (!had || (r.ts as number) >= (had.ts as number)) newest.set(k, r);
    }
    out = [...newest.values()];
    this.latestCache.set(family, out);
    return out;
  }

  pairs(family: string): readonly RowPair[] {
    const cached = this.pairCache.get(family);
    if (cached) return cached;
    this.memory.pairFamilies.add(family);
    const labels = labelColumns(family);
    // The two newest rows of each series in this batch.
    const top = new Map<string, [Row, Row | undefined]>();
    for (const r of this.rows(family)) {
      const key = this.seriesKey(family, r, labels);
      const had = top.get(key);
      const ts = r.ts as number;
      if (!had) top.set(key, [r, undefined]);
      else if (ts > (had[0].ts as number)) top.set(key, [r, had[0]]);
      else if (ts < (had[0].ts as number) && (!had[1] || ts > (had[1].ts as number))) had[1] = r;
    }
    const out: RowPair[] = [];
    for (const [key, [cur, inBatch]] of top) {
      const ts = cur.ts as number;
      let prev = inBatch;
      if (!prev) {
        const m = this.memory.previous(key);
        if (m && m.ts < ts) prev = m.row;
      }
      if (prev) out.push({ cur, prev, seconds: (ts - (prev.ts as number)) / 1000 });
    }
    this.pairCache.set(family, out);
    return out;
  }

  setting(name: string): string | undefined {
    return this.memory.settingsOf(`${this.serverId}|${this.targetId}`)?.get(name);
  }

  since(key: string, holds: boolean, ts: number): number {
    return this.memory.since(`${this.serverId}|${this.targetId ?? ''}|${key}`, holds, ts);
  }

  /** After evaluation: this batch's newest rows become the previous samples of the next one. */
  commit(): void {
    for (const family of this.tables.keys()) {
      if (!this.memory.pairFamilies.has(family)) continue;
      const labels = labelColumns(family);
      for (const r of this.latest(family))
        this.memory.remember(this.seriesKey(family, r, labels), r.ts as number, r);
    }
  }
}

/**
 * Cuts a batch into scopes: one for the host families (when it has any) and one per PostgreSQL target.
 * `targetIds` maps target names to ids (src/server/ingest/targets.ts). Log rows are not included: log
 * checks run in the periodic job over windows of the store.
 */
export function scopesOf(
  serverId: number,
  batch: ValidBatch,
  targetIds: ReadonlyMap<string, number>,
  memory: SampleMemory,
  /** Families to cut (the ingest checks' inputs and the facts); others are skipped. */
  wanted?: ReadonlySet<string>,
): Array<ScopeRows & { commit(): void; tables: Map<string, Row[]> }> {
  const host = memory.hostOf(serverId);
  const scopes = new Map<string, BatchScope>();
  const scopeFor = (name: string | null): BatchScope | undefined => {
    const k = name ?? '';
    let s = scopes.get(k);
    if (s) return s;
    const id = name === null ? null : targetIds.get(name);
    if (id === undefined) return undefined;
    s = new BatchScope(serverId, id, name ?? '', memory, host);
    scopes.set(k, s);
    return s;
  };
  for (const t of batch.tables) {
    if (t.table === 'log_entries' || (wanted && !wanted.has(t.table))) continue;
    const Make = rowMaker(t);
    for (const values of t.rows) {
      const name = t.targetIndex >= 0 ? (values[t.targetIndex] as string) : null;
      const s = scopeFor(name);
      if (!s) continue;
      let rows = s.tables.get(t.table);
      if (!rows) {
        rows = [];
        s.tables.set(t.table, rows);
      }
      rows.push(new Make(values));
    }
  }
  for (const s of scopes.values()) {
    for (const r of s.tables.get('host_memory') ?? []) {
      const total = Number(r.total_bytes);
      if (Number.isFinite(total) && total > 0) host.memoryTotalBytes = total;
    }
    const cpus = (s.tables.get('host_cpu') ?? []).filter((r) => r.cpu !== 'total');
    if (cpus.length > 0) host.cores = new Set(cpus.map((r) => r.cpu)).size;
    const mounts = s.tables.get('host_filesystem');
    if (mounts && mounts.length > 0) host.filesystems = filesystemsOf(mounts);
    const settings = s.tables.get('pg_settings');
    if (settings && settings.length > 0 && s.targetId !== null) {
      // A snapshot: the newest one replaces what was known (its rows share one ts).
      const newestTs = Math.max(...settings.map((r) => r.ts as number));
      const values = new Map<string, string>();
      for (const r of settings) if (r.ts === newestTs) values.set(String(r.name), String(r.setting ?? ''));
      memory.storeSettings(`${serverId}|${s.targetId}`, values);
    }
    for (const rows of s.tables.values()) rows.sort((a, b) => (a.ts as number) - (b.ts as number));
  }
  return [...scopes.values()];
}
