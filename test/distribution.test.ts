/**
 * What distributing the store needs of its schema (docs/scaling.md, "Beyond one store"), checked on the
 * migrated store: every table of per-server data carries `server_id`, and every primary key and unique
 * index of such a table includes it — what Citus requires of a table distributed by `server_id`, and what
 * lets a partition per server group live on another machine. The other tables are the listed reference
 * tables (small, global: users, tokens, settings), copied whole to every node.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';

/** Global tables: replicated to every node (Citus reference tables), never split by server. */
export const referenceTables = [
  'agent_ca',
  // Polling definitions: every instance claims due targets across all servers (the poll lease).
  'agentless_targets',
  // Found by credential or agent id alone (every authenticated request), before its server is known.
  'agents',
  'api_tokens',
  // The passes of the checks judged in slices: every instance takes its next slice across all servers.
  'check_pass',
  'check_pass_state',
  // Thresholds for all servers (server_id null) beside per-server ones: a distribution column cannot be null.
  'check_settings',
  'enrollment_tokens',
  'job_runs',
  'notification_channels',
  'notification_deliveries',
  'schema_migrations',
  // Scrape definitions: every instance takes due targets across all servers.
  'scrape_targets',
  'server_keys',
  'servers',
  'sessions',
  'settings',
  'users',
];

/**
 * Unique indexes on an id alone, which a store distributed by server cannot enforce: the API finds a finding,
 * an incident or an SLO by its id. Distributing needs them replaced by (server_id, id) and the foreign keys
 * that point at them to carry server_id (docs/scaling.md); the ids themselves stay unique (identity columns).
 */
const byIdAlone = ['findings_finding_id_key', 'incidents_incident_id_key', 'slos_slo_id_key'];

let ts: TestStore;
before(async () => {
  ts = await createTestStore('distribution');
});
after(() => ts.close());

test(`every_table_of_per_server_data_is_keyed_by_server_id_and_the_rest_are_the_reference_tables (${testPgLabel})`, async () => {
  // Top-level tables only: partitions follow their parent.
  const { rows: tables } = await ts.store.pool.query<{ name: string; has_server: boolean }>(
    `SELECT c.relname AS name,
            EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'server_id' AND NOT a.attisdropped) AS has_server
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'pgvigil' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY 1`,
  );
  const { rows: uniques } = await ts.store.pool.query<{ tbl: string; idx: string; has_server: boolean }>(
    `SELECT t.relname AS tbl, i.relname AS idx,
            EXISTS (SELECT 1 FROM unnest(x.indkey) k JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k
                     WHERE a.attname = 'server_id') AS has_server
       FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'pgvigil' AND x.indisunique AND NOT t.relispartition`,
  );
  const reference = new Set(referenceTables);
  const problems: string[] = [];
  for (const t of tables) {
    if (reference.has(t.name)) continue;
    if (!t.has_server) problems.push(`${t.name}: no server_id column and not a reference table`);
  }
  for (const u of uniques) {
    if (reference.has(u.tbl)) continue;
    if (!u.has_server && !byIdAlone.includes(u.idx)) {
      problems.push(`${u.tbl}: unique index ${u.idx} does not include server_id`);
    }
  }
  assert.deepEqual(problems, []);
  const names = new Set(tables.map((t) => t.name));
  for (const r of referenceTables) assert.ok(names.has(r), `reference table ${r} exists`);
  const indexes = new Set(uniques.map((u) => u.idx));
  for (const i of byIdAlone) assert.ok(indexes.has(i), `${i} still exists (else drop it from the list)`);
  assert.ok(tables.length > 100, `${tables.length} tables checked`);
});
