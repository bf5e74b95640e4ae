/**
 * Check settings in force: each check's threshold defaults, overridden globally, per server and per
 * target (the most specific wins, threshold by threshold), and each check switched on or off at any of
 * those levels. Admins change them through the API (src/server/routes/findings.ts); this validates a
 * change before it is stored.
 */
import { PgvigilError } from '../errors.js';
import type { CheckSettingRow } from '../storage/queries/findings.sql.js';
import type { Check, Thresholds } from './checks/types.js';

const scopeKey = (serverId: number | null, targetId: number | null) => `${serverId ?? ''}|${targetId ?? ''}`;

export class ThresholdBook {
  private readonly byCheck = new Map<string, Check>();
  private overrides = new Map<string, Map<string, CheckSettingRow>>();
  private cache = new Map<string, Thresholds>();
  /** Thresholds of checks without any override: their defaults. */
  private readonly defaults = new Map<string, Thresholds>();

  constructor(checks: readonly Check[]) {
    for (const c of checks) this.byCheck.set(c.id, c);
  }

  load(rows: readonly CheckSettingRow[]): void {
    const next = new Map<string, Map<string, CheckSettingRow>>();
    for (const r of rows) {
      let m = next.get(r.check);
      if (!m) {
        m = new Map();
        next.set(r.check, m);
      }
      m.set(scopeKey(r.serverId, r.targetId), r);
    }
    this.overrides = next;
    this.cache = new Map();
  }

  private chain(check: string, serverId: number | null, targetId: number | null): CheckSettingRow[] {
    const m = this.overrides.get(check);
    if (!m) return [];
    const out: CheckSettingRow[] = [];
    for (const k of [scopeKey(null, null), scopeKey(serverId, null), scopeKey(serverId, targetId)]) {
      const r = m.get(k);
      if (r && !out.includes(r)) out.push(r);
    }
    return out;
  }

  /** The thresholds in force for a check on a server/target. */
  for(check: string, serverId: number | null, targetId: number | null): Thresholds {
    // Nearly every check has no override anywhere: its defaults, without a key made per call (this runs for
    // every check and scope of every batch on ingest).
    if (!this.overrides.has(check)) {
      let d = this.defaults.get(check);
      if (!d) {
        d = this.resolve(check, serverId, targetId);
        this.defaults.set(check, d);
      }
      return d;
    }
    const key = `${check}|${scopeKey(serverId, targetId)}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const t = this.resolve(check, serverId, targetId);
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(key, t);
    return t;
  }

  private resolve(check: string, serverId: number | null, targetId: number | null): Thresholds {
    const spec = this.byCheck.get(check);
    const t: Record<string, number> = Object.create(null);
    for (const [name, s] of Object.entries(spec?.thresholds ?? {})) t[name] = s.default;
    for (const r of this.chain(check, serverId, targetId)) {
      for (const [name, v] of Object.entries(r.thresholds)) {
        if (Object.hasOwn(t, name) && typeof v === 'number' && Number.isFinite(v)) t[name] = v;
      }
    }
    return t;
  }

  /** On by the check's default, unless the most specific level that says otherwise does. */
  enabled(check: string, serverId: number | null, targetId: number | null): boolean {
    let on = this.byCheck.get(check)?.offByDefault === undefined;
    for (const r of this.chain(check, serverId, targetId)) on = r.enabled;
    return on;
  }

  /** Whether the check is on anywhere: by default, or switched on for some scope. */
  enabledAnywhere(check: string): boolean {
    if (this.byCheck.get(check)?.offByDefault === undefined) return true;
    for (const r of this.overrides.get(check)?.values() ?? []) if (r.enabled) return true;
    return false;
  }
}

/** Refuses unknown threshold names and values outside a threshold's range, naming which. */
export function validateThresholds(check: Check, values: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(values)) {
    if (!Object.hasOwn(check.thresholds, name)) {
      const known = Object.keys(check.thresholds);
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `thresholds.${name.slice(0, 100)}: check ${check.id} has no such threshold${known.length ? ` (it has ${known.join(', ')})` : ''}`,
      );
    }
    const spec = check.thresholds[name]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new PgvigilError('BAD_ARGUMENT', `thresholds.${name}: expected a number`);
    }
    if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `thresholds.${name}: ${v} is outside ${spec.min ?? '-∞'}…${spec.max ?? '∞'} ${spec.unit}`,
      );
    }
    out[name] = v;
  }
  return out;
}
