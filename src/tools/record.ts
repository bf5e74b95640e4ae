/**
 * `pgvigil record`: writes a server's raw rows in a time range as a replay file (./replay-format.ts),
 * one batch per 10-second slot of collection time — what the agent sends by default, so `pgvigil
 * replay` of the file judges the same samples the store judged.
 *
 * Families covered: every host family and every PostgreSQL target family whose rows carry their own
 * time (the `once` families — statement texts and the like, stored once per series — and log entries
 * are not recorded). At most `maxRowsPerFamily` rows of a family are read; more is refused with the
 * advice to narrow the range, never cut silently.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { PgvigilError } from '../errors.js';
import { createLogger } from '../log.js';
import { type FamilySpec, families } from '../protocol/families/index.js';
import { openStore } from '../storage/db.js';
import { familyRowsInRange, serverIdByName, wireColumnsOf } from '../storage/queries/replay.sql.js';

const slotMs = 10_000;
export const maxRowsPerFamily = 2_000_000;

/** The families `record` writes, by name. */
export function recordedFamilies(): FamilySpec[] {
  return Object.values(families).filter((f) => f.once !== true);
}

export interface RecordOptions {
  databaseUrl?: string;
  dataDir?: string;
  server: string;
  from: Date;
  to: Date;
  /** A file; standard output without it. */
  out?: string;
}

export interface RecordSummary {
  batches: number;
  rows: number;
  families: string[];
}

export async function record(opts: RecordOptions): Promise<RecordSummary> {
  if (!(opts.from.getTime() < opts.to.getTime()))
    throw new PgvigilError('BAD_ARGUMENT', '--from must be before --to');
  const log = createLogger('warn');
  const store = await openStore({
    databaseUrl: opts.databaseUrl,
    dataDir: opts.dataDir,
    log,
    shareRunning: true,
  });
  try {
    const serverId = await serverIdByName(store.pool, opts.server);
    if (serverId === undefined) throw new PgvigilError('BAD_ARGUMENT', `no server named ${opts.server}`);
    // slot start → family → rows
    const slots = new Map<number, Map<string, unknown[][]>>();
    const seen: string[] = [];
    let rows = 0;
    for (const spec of recordedFamilies()) {
      const got = await familyRowsInRange(
        store.pool,
        spec,
        serverId,
        opts.from,
        opts.to,
        maxRowsPerFamily + 1,
      );
      if (got.length > maxRowsPerFamily) {
        throw new PgvigilError(
          'BAD_ARGUMENT',
          `more than ${maxRowsPerFamily} rows of ${spec.name} in the range: record a shorter one`,
        );
      }
      if (got.length === 0) continue;
      seen.push(spec.name);
      rows += got.length;
      for (const r of got) {
        const slot = Math.floor((r[0] as number) / slotMs) * slotMs;
        let bySlot = slots.get(slot);
        if (!bySlot) {
          bySlot = new Map();
          slots.set(slot, bySlot);
        }
        let list = bySlot.get(spec.name);
        if (!list) {
          list = [];
          bySlot.set(spec.name, list);
        }
        list.push(r);
      }
    }
    const sink: WriteStream | NodeJS.WriteStream = opts.out ? createWriteStream(opts.out) : process.stdout;
    const write = (s: string) =>
      sink.write(s) ? Promise.resolve() : new Promise<void>((r) => sink.once('drain', () => r()));
    let batches = 0;
    for (const slot of [...slots.keys()].sort((a, b) => a - b)) {
      const tables: Record<string, { columns: string[]; rows: unknown[][] }> = {};
      for (const [name, list] of slots.get(slot)!) {
        tables[name] = { columns: wireColumnsOf(families[name]!), rows: list };
      }
      // The batch arrives when its slot is over, as an agent pushes what it collected.
      const time = new Date(slot + slotMs).toISOString();
      await write(`${JSON.stringify({ time, server: opts.server, v: 1, families: tables })}\n`);
      batches++;
    }
    if (opts.out) {
      const file = sink as WriteStream;
      await new Promise<void>((resolve, reject) =>
        file.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
    }
    return { batches, rows, families: seen };
  } finally {
    await store.close();
  }
}
