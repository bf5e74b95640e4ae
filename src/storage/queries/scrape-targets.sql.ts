/**
 * Server-side scrape targets (`pgvigil.scrape_targets`, migration 0028): the definitions an admin makes
 * through /api/v1/scrape-targets, the scrape job's due list, its sequence numbers and its results.
 */
import type { Queryable } from './queryable.js';

export interface ScrapeTargetRow {
  scrape_target_id: number;
  name: string;
  server_id: number;
  server_name: string;
  agent_id: string;
  url: string;
  format: 'prometheus' | 'json';
  interval_ms: number;
  timeout_ms: number;
  max_bytes: number;
  max_series: number;
  json_mapping: unknown[] | null;
  allow_addresses: string[];
  enabled: boolean;
  seq: number;
  last_scrape_at: Date | null;
  last_ok_at: Date | null;
  last_error: string | null;
  last_series: number | null;
  last_dropped: number | null;
  dropped_total: number;
  created_at: Date;
  updated_at: Date;
}

export interface ScrapeTargetFields {
  url: string;
  format: 'prometheus' | 'json';
  intervalMs: number;
  timeoutMs: number;
  maxBytes: number;
  maxSeries: number;
  jsonMapping: unknown[] | null;
  allowAddresses: string[];
  enabled: boolean;
}

const columns = `t.scrape_target_id, t.name, t.server_id, s.name AS server_name, t.agent_id::text AS agent_id,
  t.url, t.format, t.interval_ms, t.timeout_ms, t.max_bytes, t.max_series, t.json_mapping, t.allow_addresses,
  t.enabled, t.seq, t.last_scrape_at, t.last_ok_at, t.last_error, t.last_series, t.last_dropped,
  t.dropped_total, t.created_at, t.updated_at`;

/**
 * Adds a target, writing under the server entry `serverName` (made when there is none). Undefined when a
 * target of that name exists already.
 */
export async function insertScrapeTarget(
  db: Queryable,
  name: string,
  serverName: string,
  f: ScrapeTargetFields,
): Promise<ScrapeTargetRow | undefined> {
  const { rows } = await db.query<ScrapeTargetRow>(
    `WITH srv AS (
       INSERT INTO pgvigil.servers (name) VALUES ($2)
       ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
       RETURNING server_id, name
     ), t AS (
       INSERT INTO pgvigil.scrape_targets
         (name, server_id, url, format, interval_ms, timeout_ms, max_bytes, max_series, json_mapping,
          allow_addresses, enabled)
       SELECT $1, srv.server_id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM srv
       ON CONFLICT (name) DO NOTHING
       RETURNING *
     )
     SELECT ${columns} FROM t JOIN srv s USING (server_id)`,
    [
      name,
      serverName,
      f.url,
      f.format,
      f.intervalMs,
      f.timeoutMs,
      f.maxBytes,
      f.maxSeries,
      f.jsonMapping === null ? null : JSON.stringify(f.jsonMapping),
      f.allowAddresses,
      f.enabled,
    ],
  );
  return rows[0];
}

export async function listScrapeTargets(db: Queryable, limit: number): Promise<ScrapeTargetRow[]> {
  const { rows } = await db.query<ScrapeTargetRow>(
    `SELECT ${columns} FROM pgvigil.scrape_targets t JOIN pgvigil.servers s USING (server_id)
      ORDER BY t.name LIMIT $1`,
    [limit],
  );
  return rows;
}

export async function scrapeTargetById(db: Queryable, id: number): Promise<ScrapeTargetRow | undefined> {
  const { rows } = await db.query<ScrapeTargetRow>(
    `SELECT ${columns} FROM pgvigil.scrape_targets t JOIN pgvigil.servers s USING (server_id)
      WHERE t.scrape_target_id = $1`,
    [id],
  );
  return rows[0];
}

/** Replaces a target's definition (name and server entry stay). */
export async function updateScrapeTarget(
  db: Queryable,
  id: number,
  f: ScrapeTargetFields,
): Promise<ScrapeTargetRow | undefined> {
  const { rows } = await db.query<ScrapeTargetRow>(
    `WITH t AS (
       UPDATE pgvigil.scrape_targets SET url = $2, format = $3, interval_ms = $4, timeout_ms = $5,
         max_bytes = $6, max_series = $7, json_mapping = $8, allow_addresses = $9, enabled = $10,
         updated_at = now()
       WHERE scrape_target_id = $1
       RETURNING *
     )
     SELECT ${columns} FROM t JOIN pgvigil.servers s USING (server_id)`,
    [
      id,
      f.url,
      f.format,
      f.intervalMs,
      f.timeoutMs,
      f.maxBytes,
      f.maxSeries,
      f.jsonMapping === null ? null : JSON.stringify(f.jsonMapping),
      f.allowAddresses,
      f.enabled,
    ],
  );
  return rows[0];
}

export async function deleteScrapeTarget(db: Queryable, id: number): Promise<boolean> {
  const r = await db.query('DELETE FROM pgvigil.scrape_targets WHERE scrape_target_id = $1', [id]);
  return (r.rowCount ?? 0) > 0;
}

/** Enabled targets whose interval has passed since their last scrape (never scraped first), at most `limit`. */
export async function dueScrapeTargets(db: Queryable, now: Date, limit: number): Promise<ScrapeTargetRow[]> {
  const { rows } = await db.query<ScrapeTargetRow>(
    `SELECT ${columns} FROM pgvigil.scrape_targets t JOIN pgvigil.servers s USING (server_id)
      WHERE t.enabled
        AND (t.last_scrape_at IS NULL OR t.last_scrape_at <= $1::timestamptz - make_interval(secs => t.interval_ms / 1000.0))
      ORDER BY t.last_scrape_at NULLS FIRST, t.scrape_target_id
      LIMIT $2`,
    [now, limit],
  );
  return rows;
}

/** The next batch sequence number of a target's scrapes (its ledger identity is `agent_id`). */
export async function nextScrapeSeq(db: Queryable, id: number): Promise<number> {
  const { rows } = await db.query<{ seq: number }>(
    'UPDATE pgvigil.scrape_targets SET seq = seq + 1 WHERE scrape_target_id = $1 RETURNING seq',
    [id],
  );
  return rows[0]?.seq ?? 0;
}

/**
 * Records one scrape: when, whether it worked (error null), series stored and dropped. A scrape that worked
 * marks its server entry seen when no agent reports for it (a scrape-only entry); an agent's host keeps
 * being judged by its agent.
 */
export async function recordScrape(
  db: Queryable,
  id: number,
  at: Date,
  r: { error: string | null; series: number | null; dropped: number },
): Promise<void> {
  if (r.error === null) {
    await db.query(
      `UPDATE pgvigil.servers s SET last_seen_at = $2
         FROM pgvigil.scrape_targets t
        WHERE t.scrape_target_id = $1 AND s.server_id = t.server_id
          AND NOT EXISTS (SELECT 1 FROM pgvigil.agents a WHERE a.server_id = s.server_id)`,
      [id, at],
    );
  }
  await db.query(
    `UPDATE pgvigil.scrape_targets SET last_scrape_at = $2,
       last_ok_at = CASE WHEN $3::text IS NULL THEN $2 ELSE last_ok_at END,
       last_error = $3, last_series = $4, last_dropped = $5::integer, dropped_total = dropped_total + $5::integer
     WHERE scrape_target_id = $1`,
    [id, at, r.error, r.series, r.dropped],
  );
}
