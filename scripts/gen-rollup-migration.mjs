// Prints the rollup DDL generated from the family specs (src/storage/rollups.ts), from the built code.
//
//   npm run build && node scripts/gen-rollup-migration.mjs > src/storage/migrations/0008_rollups.sql
//       the whole of migration 0008 (how it was made; migrations are history: never regenerate a
//       migration that was released — write a new one)
//   node scripts/gen-rollup-migration.mjs --minute > src/storage/migrations/0011_minute_rollups.sql
//       the whole of migration 0011 (the minute tier of every family then known)
//   node scripts/gen-rollup-migration.mjs --family NAME [--family NAME…]
//       only the rollup tables of these families (every tier), for the migration that adds a new family
import {
  minuteRollupMigrationSql,
  rollupMigrationSql,
  rollupSpecs,
  rollupTablesDdl,
} from '../dist/src/storage/rollups.js';

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
