/** Host metrics as the read API shows them: the newest collection of a host family, and containers. */
import { type FamilySpec, processFamilies } from '../../protocol/families/index.js';
import { familyColumn, familyColumns, familyTable } from './identifiers.js';
import type { Queryable } from './queryable.js';

type Row = Record<string, unknown>;

/**
 * The rows of a server's host family at its newest ts within `windowS` seconds, ordered by the label
 * column `orderBy` (a column of the family).
 */
export async function newestFamilyRows(
  db: Queryable,
  spec: FamilySpec,
  serverId: number,
  windowS: number,
  orderBy?: string,
): Promise<Array<Row & { ts: Date }>> {
  const table = familyTable(spec);
  const { rows } = await db.query<Row & { ts: Date }>(
    `SELECT ts, ${familyColumns(spec)} FROM ${table}
      WHERE server_id = $1
        AND ts = (SELECT max(ts) FROM ${table} WHERE server_id = $1 AND ts > now() - make_interval(secs => $2))
      ${orderBy ? `ORDER BY ${familyColumn(spec, orderBy)}` : ''}`,
    [serverId, windowS],
  );
  return rows;
}

export interface ContainerRow extends Row {
  ts: Date;
  runtime: string;
  id: string;
  /** The server's newest container collection in the window. */
  newest: Date;
}

const container = processFamilies.host_container;

/** Newest row of each container seen within the window, optionally only ids matching the LIKE `prefix`. */
export async function newestContainers(
  db: Queryable,
  serverId: number,
  windowS: number,
  prefix: string | null,
): Promise<ContainerRow[]> {
  const { rows } = await db.query<ContainerRow>(
    `WITH recent AS (
       SELECT ts, ${familyColumns(container)} FROM pgvigil.host_container
        WHERE server_id = $1 AND ts > now() - make_interval(secs => $2)
     )
     SELECT DISTINCT ON (runtime, id) *, (SELECT max(ts) FROM recent) AS newest
       FROM recent
      WHERE $3::text IS NULL OR id LIKE $3
      ORDER BY runtime, id, ts DESC`,
    [serverId, windowS, prefix],
  );
  return rows;
}
