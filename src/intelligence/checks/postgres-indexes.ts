/**
 * PostgreSQL index checks on ingest (pg_indexes, per database): big indexes never used, indexes left
 * invalid by a failed build, and indexes that duplicate another one. Each costs writes, WAL, vacuum time
 * and cache for nothing.
 *
 * Evaluated on each batch holding pg_indexes rows; as with tables (./postgres-tables.ts), a target whose
 * databases send no index row at all is not evaluated and its findings resolve by time.
 */
import { objectIn, psqlCommand } from './psql.js';
import type { Draft, IngestCheck, Row } from './types.js';
import { cut, humanBytes, ms, num, qualified, str } from './util.js';

function indexEvidence(r: Row): Record<string, string | number | boolean | null> {
  return {
    datname: str(r.datname),
    schemaname: str(r.schemaname),
    relname: str(r.relname),
    indexrelname: str(r.indexrelname),
    idx_scan: num(r.idx_scan),
    size_bytes: num(r.size_bytes),
    is_unique: r.is_unique === true,
    is_primary: r.is_primary === true,
    is_valid: r.is_valid !== false,
    ...(typeof r.definition === 'string' && r.definition !== '' ? { definition: cut(r.definition) } : {}),
  };
}

/** When the statistics of each database were last reset (pg_database of the same batch), ms. */
function statsResets(rows: readonly Row[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) {
    const t = ms(r.stats_reset);
    if (t !== null) out.set(str(r.datname), t);
  }
  return out;
}

export const pgUnusedIndex: IngestCheck = {
  id: 'pg.unused_index',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'recommendation',
  title: 'Large index never used',
  doc: {
    evidence:
      'database, table, index, scans since the statistics reset (0), size, when statistics were reset',
    action:
      'psql -d <db> -c "DROP INDEX CONCURRENTLY schema.index;" after checking standbys and rare jobs do not use it',
  },
  inputs: ['pg_indexes'],
  thresholds: {
    min_size_bytes: {
      default: 10 * 1024 * 1024,
      unit: 'bytes',
      help: 'unused indexes smaller than this are left alone',
      min: 0,
    },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const resets = statsResets(input.latest('pg_database'));
    for (const r of input.latest('pg_indexes')) {
      if (r.unused !== true || r.is_primary === true || r.is_unique === true || r.is_valid === false)
        continue;
      const size = num(r.size_bytes);
      if (size === null || size < t.min_size_bytes!) continue;
      const datname = str(r.datname);
      const name = qualified(str(r.schemaname), str(r.indexrelname));
      const reset = resets.get(datname);
      out.push({
        object: objectIn(datname, str(r.schemaname), str(r.indexrelname)),
        severity: 'info',
        title: `Index ${cut(name, 200)} in ${cut(datname, 100)} (${humanBytes(size)}) is never used`,
        explanation:
          `Index ${name} on ${qualified(str(r.schemaname), str(r.relname))} in database ${datname} takes ${humanBytes(size)} and has not been scanned ` +
          `${reset === undefined ? 'since the statistics were last reset' : `since ${new Date(reset).toISOString()} (last statistics reset)`}. ` +
          'Every write still updates it. Before dropping it: the counts start at the last statistics reset, so a monthly job may not have run since, and scans on standbys are not counted here — check pg_stat_user_indexes on each standby too.',
        evidence: {
          ...indexEvidence(r),
          stats_reset: reset === undefined ? null : new Date(reset).toISOString(),
        },
        action: psqlCommand(datname, [`DROP INDEX CONCURRENTLY ${name};`], input),
        value: size,
      });
    }
    return out;
  },
};

export const pgInvalidIndex: IngestCheck = {
  id: 'pg.invalid_index',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'alert',
  title: 'Invalid index (failed CREATE INDEX CONCURRENTLY or REINDEX)',
  doc: {
    evidence: 'database, table, index, its size and definition',
    action:
      'psql -d <db> -c "REINDEX INDEX CONCURRENTLY schema.index;" (or DROP INDEX CONCURRENTLY for a leftover _ccnew/_ccold)',
  },
  inputs: ['pg_indexes'],
  thresholds: {},
  evaluate(input) {
    const out: Draft[] = [];
    // Invalid in two consecutive samples: an index being built right now is invalid for a moment too.
    for (const { cur: r, prev } of input.pairs('pg_indexes')) {
      if (r.is_valid !== false || prev.is_valid !== false) continue;
      const datname = str(r.datname);
      const index = str(r.indexrelname);
      const name = qualified(str(r.schemaname), index);
      const leftover = /_cc(new|old)\d*$/.test(index);
      const size = num(r.size_bytes);
      out.push({
        object: objectIn(datname, str(r.schemaname), index),
        severity: 'warning',
        title: `Index ${cut(name, 200)} in ${cut(datname, 100)} is invalid`,
        explanation:
          `Index ${name} on ${qualified(str(r.schemaname), str(r.relname))} in database ${datname} is marked invalid: ` +
          'a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY failed or was cancelled. Queries never use it, yet every write maintains it' +
          (size !== null ? ` (${humanBytes(size)})` : '') +
          (r.is_unique === true ? ', and as a unique index it still rejects duplicates' : '') +
          '. Unless a build is still running on it (pg_stat_progress_create_index), ' +
          (leftover
            ? 'it is the leftover copy of a failed REINDEX CONCURRENTLY: drop it.'
            : 'rebuild it, or drop it and create it again with CREATE INDEX CONCURRENTLY.'),
        evidence: indexEvidence(r),
        action: psqlCommand(
          datname,
          [leftover ? `DROP INDEX CONCURRENTLY ${name};` : `REINDEX INDEX CONCURRENTLY ${name};`],
          input,
        ),
        value: size,
      });
    }
    return out;
  },
};

export const pgDuplicateIndex: IngestCheck = {
  id: 'pg.duplicate_index',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'recommendation',
  title: 'Index duplicating another index of the same table',
  doc: {
    evidence: 'database, table, the duplicate and the index it duplicates, both definitions, size, scans',
    action: 'psql -d <db> -c "DROP INDEX CONCURRENTLY schema.duplicate;"',
  },
  inputs: ['pg_indexes'],
  thresholds: {
    min_size_bytes: {
      default: 0,
      unit: 'bytes',
      help: 'duplicates smaller than this are left alone',
      min: 0,
    },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const rows = input.latest('pg_indexes');
    const byName = new Map<string, Row>();
    for (const r of rows) byName.set(`${str(r.datname)}|${str(r.schemaname)}|${str(r.indexrelname)}`, r);
    for (const r of rows) {
      const keep = str(r.duplicate_of);
      if (keep === '' || r.is_primary === true) continue;
      const size = num(r.size_bytes) ?? 0;
      if (size < t.min_size_bytes!) continue;
      const datname = str(r.datname);
      const schema = str(r.schemaname);
      const name = qualified(schema, str(r.indexrelname));
      const kept = byName.get(`${datname}|${schema}|${keep}`);
      out.push({
        object: objectIn(datname, schema, str(r.indexrelname)),
        severity: 'info',
        title: `Index ${cut(name, 200)} in ${cut(datname, 100)} duplicates ${cut(keep, 200)}`,
        explanation:
          `Index ${name} on ${qualified(schema, str(r.relname))} in database ${datname} indexes the same columns, in the same way, as ${qualified(schema, keep)}. ` +
          `Queries can use either, so this one only costs writes, WAL, vacuum time and ${humanBytes(size)} of disk and cache.`,
        evidence: {
          ...indexEvidence(r),
          duplicate_of: cut(keep, 200),
          duplicate_of_definition:
            kept && typeof kept.definition === 'string' && kept.definition !== ''
              ? cut(kept.definition)
              : null,
          duplicate_of_idx_scan: kept ? num(kept.idx_scan) : null,
        },
        action: psqlCommand(datname, [`DROP INDEX CONCURRENTLY ${name};`], input),
        value: size,
      });
    }
    return out;
  },
};

export const postgresIndexChecks = [pgUnusedIndex, pgInvalidIndex, pgDuplicateIndex];
