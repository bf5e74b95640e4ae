/**
 * What `pgvigil replay` and `pgvigil record` read: whether a store is fresh, a server by name, and a
 * server's raw family rows in a time range, returned in the wire's column order (src/protocol/batch.ts)
 * so they can be written back as batches. Table and column names come from the family registry.
 */
import type { FamilySpec } from '../../protocol/families/index.js';
import { familyTable, ident } from './identifiers.js';
import type { Queryable } from './queryable.js';

/** Servers the store knows: a replay needs a store with none (its findings would mix with theirs). */
export async function storeServerCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pgvigil.servers');
  return rows[0]!.n;
}

export async function serverIdByName(db: Queryable, name: string): Promise<number | undefined> {
  const { rows } = await db.query<{ id: number }>(
    'SELECT server_id::int AS id FROM pgvigil.servers WHERE name = $1',
    [name],
  );
  return rows[0]?.id;
}

/** One column's value as the wire carries it: numbers for int8 (exact to 2^53), ms for timestamps. */
function wireExpr(name: string, type: string): string {
  const c = `r.${ident(name)}`;
  if (type === 'int8') return `${c}::float8`;
  if (type === 'timestamptz') return `(extract(epoch FROM ${c}) * 1000)::float8`;
  return c;
}

/** The wire columns of a family's rows as `familyRowsInRange` returns them: ts, [target,] columns. */
export function wireColumnsOf(spec: FamilySpec): string[] {
  return [...(spec.scope === 'target' ? ['ts', 'target'] : ['ts']), ...spec.columns.map((c) => c.name)];
}

/**
 * A server's raw rows of one family with from ≤ ts < to, oldest first, at most `limit`, each in the order
 * of `wireColumnsOf(spec)`; ts in ms, a target family's target by name.
 */
export async function familyRowsInRange(
  db: Queryable,
  spec: FamilySpec,
  serverId: number,
  from: Date,
  to: Date,
  limit: number,
): Promise<unknown[][]> {
  const cols = spec.columns.map((c) => wireExpr(c.name, c.type));
  const target = spec.scope === 'target';
  const { rows } = await db.query<unknown[]>({
    text: `SELECT (extract(epoch FROM r.ts) * 1000)::float8${target ? ', t.name' : ''}${cols.length ? `, ${cols.join(', ')}` : ''}
             FROM ${familyTable(spec)} r
             ${target ? 'JOIN pgvigil.targets t ON t.server_id = r.server_id AND t.target_id = r.target_id' : ''}
            WHERE r.server_id = $1 AND r.ts >= $2 AND r.ts < $3
            ORDER BY r.ts
            LIMIT $4`,
    values: [serverId, from, to, limit],
    rowMode: 'array',
  });
  return rows;
}
