/**
 * Target ids for ingest: the names a batch's `target` column carries, turned into the server's target
 * ids (created on first sight). Cached per process: a target's id never changes once made, so the cache
 * needs no invalidation, only a bound on its size.
 */
import type pg from 'pg';
import type { ValidBatch } from '../../protocol/batch.js';
import { upsertTargets } from '../../storage/queries/targets.sql.js';

export class TargetResolver {
  private readonly cache = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxCached = 100_000,
  ) {}

  /** Ids of every target the batch names, by name. */
  async resolve(serverId: number, batch: ValidBatch): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    const missing = new Set<string>();
    for (const t of batch.tables) {
      if (t.targetIndex < 0) continue;
      for (const row of t.rows) {
        const name = row[t.targetIndex] as string;
        if (ids.has(name) || missing.has(name)) continue;
        const cached = this.cache.get(`${serverId}/${name}`);
        if (cached === undefined) missing.add(name);
        else ids.set(name, cached);
      }
    }
    if (missing.size === 0) return ids;
    // Sorted: two requests creating the same targets lock their rows in one order.
    const made = await upsertTargets(this.pool, serverId, [...missing].sort());
    if (this.cache.size + made.size > this.maxCached) this.cache.clear();
    for (const [name, id] of made) {
      ids.set(name, id);
      this.cache.set(`${serverId}/${name}`, id);
    }
    return ids;
  }
}
