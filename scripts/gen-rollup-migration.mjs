// Prints the rollup DDL generated from the family specs (src/storage/rollups.ts), from the built code.
//
//   npm run build && node scripts/gen-rollup-migration.mjs > src/storage/migrations/0008_rollups.sql
//       the whole of migration 0008 (how it was made; migrations are history: never regenerate a
//       migration that was released — write a new one)
//   node scripts/gen-rollup-migration.mjs --minute > src/storage/migrations/0011_minute_rollups.sql
//       the whole of migration 0011 (the minute tier of every family then known)
//   node scripts/gen-rollup-migration.mjs --family NAME [--family NAME…]
//       only the rollup tables of these families (every tier), for the migration that adds a new family
//
// The migration texts (header comments, the pending-bucket queue, the back-fill) live here, around the
// table DDL that src/storage/rollups.ts derives from the family specs.
import { rollupSkipped, rollupSpecs, rollupTablesDdl } from '../dist/src/storage/rollups.js';

/** The whole of migration 0008 (rollup tables of every family now known, and the pending-bucket queue). */
function rollupMigrationSql() {
  const skipped = Object.entries(rollupSkipped)
    .map(([f, why]) => `--   ${f}: ${why}`)
    .join('\n');
  return `-- Rollup tiers: <family>_hourly and <family>_daily for every metric family, and the queue of buckets to
-- (re-)roll. GENERATED from the family specs by scripts/gen-rollup-migration.mjs (src/storage/rollups.ts
-- says what each column means); test/rollups.test.ts checks every table against the specs.
--
-- Partitioned on ts like the raw tables; the partition maintainer finds them by their name suffix (hourly:
-- one partition per month, daily: one per year). Key: (server_id[, target_id], labels…, ts), so a series is
-- read in ts order from the key.
--
-- Families not rolled up:
${skipped}

-- Buckets whose raw rows changed since they were last rolled. The ingest writer records (server, hour) for
-- every hour its rows touched; the rollup job rolls an hour once it ended plus a grace period, deletes it
-- here and records its day (tier 'daily') in the same transaction.
CREATE TABLE pgvigil.rollup_pending (
  server_id bigint NOT NULL,
  tier text NOT NULL CHECK (tier IN ('hourly', 'daily')),
  bucket timestamptz NOT NULL,
  PRIMARY KEY (server_id, tier, bucket)
);
CREATE INDEX rollup_pending_due ON pgvigil.rollup_pending (tier, bucket);

${Object.values(rollupSpecs)
  .map((spec) => rollupTablesDdl(spec, ['hourly', 'daily']))
  .join('\n\n')}
`;
}

/** The whole of migration 0011: the minute tier of every family rolled up. */
function minuteRollupMigrationSql() {
  return `-- Rollup tier <family>_minute for every rolled-up metric family: the same columns as <family>_hourly, one
-- row per series and minute. GENERATED from the family specs by scripts/gen-rollup-migration.mjs --minute
-- (src/storage/rollups.ts says what each column means); test/rollups.test.ts checks every table against
-- the specs.
--
-- The rollup job writes an hour's minute rows when it rolls that hour (same statement, same pending
-- bucket), one (server, hour) after another, so one host's rows lie together on disk — unlike its raw
-- rows, which ingest writes time-major, interleaved with every other host's. Partitioned on ts by day like
-- the raw tables (the partition maintainer finds them by their name suffix) and kept as long as raw rows
-- (rawDays).

${Object.values(rollupSpecs)
  .map((spec) => rollupTablesDdl(spec, ['minute']))
  .join('\n\n')}

-- Hours rolled before this migration have no minute rows, and the series API reads the minute tier for
-- ranges up to 36 h: queue the last 37 hours of every server seen in them to be rolled again (idempotent
-- for the hourly tier; the job skips hours whose raw rows retention may have cut).
INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
SELECT s.server_id, 'hourly', h
  FROM pgvigil.servers s,
       generate_series(date_bin('1 hour', now() - interval '37 hours', '1970-01-01T00:00:00Z'::timestamptz), now(), interval '1 hour') h
 WHERE s.last_seen_at >= now() - interval '37 hours'
ON CONFLICT DO NOTHING;
`;
}

const args = process.argv.slice(2);
const names = [];
let minute = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--family' && args[i + 1]) names.push(args[++i]);
  else if (args[i] === '--minute') minute = true;
  else {
    process.stderr.write(`usage: node scripts/gen-rollup-migration.mjs [--minute | --family NAME…]\n`);
    process.exit(2);
  }
}
if (minute && names.length > 0) {
  process.stderr.write('--minute and --family do not go together\n');
  process.exit(2);
}
if (minute) {
  process.stdout.write(minuteRollupMigrationSql());
} else if (names.length === 0) {
  process.stdout.write(rollupMigrationSql());
} else {
  for (const name of names) {
    const spec = rollupSpecs[name];
    if (!spec) {
      process.stderr.write(`${name}: no such family, or it is not rolled up\n`);
      process.exit(2);
    }
    process.stdout.write(`${rollupTablesDdl(spec)}\n\n`);
  }
}
