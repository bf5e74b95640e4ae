/**
 * Sequences near exhaustion, on ingest (pg_sequences, per database): when a sequence reaches its end,
 * every INSERT that takes a value from it fails ("reached maximum value of sequence").
 */
import { objectIn, psqlCommand } from './psql.js';
import type { Draft, IngestCheck, Row } from './types.js';
import { cut, grade, literal, num, qualified, round2, str } from './util.js';

const bigintMax = '9223372036854775807';
const bigintMin = '-9223372036854775808';

/** An int8 value for evidence: the number when exact, else its decimal text as sent. */
function exact(v: unknown): number | string | null {
  const n = num(v);
  if (n === null) return null;
  return Number.isSafeInteger(n) ? n : str(v);
}

/** The newest row of each sequence (by its own labels, whatever the family registry of this build says). */
function newestPerSequence(rows: readonly Row[]): Row[] {
  const newest = new Map<string, Row>();
  for (const r of rows) {
    const k = `${str(r.datname)}\u0000${str(r.schemaname)}\u0000${str(r.sequencename)}`;
    const had = newest.get(k);
    if (!had || (num(r.ts) ?? 0) >= (num(had.ts) ?? 0)) newest.set(k, r);
  }
  return [...newest.values()];
}

export const pgSequenceExhaustion: IngestCheck = {
  id: 'pg.sequence_exhaustion',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'alert',
  title: 'Sequence near the end of its range',
  doc: {
    evidence: 'database, sequence, data type, last value, min/max, increment, share of the range used',
    action:
      'psql -d <db> -c "ALTER SEQUENCE schema.seq AS bigint;" and the column that takes its values ALTER TABLE … ALTER COLUMN … TYPE bigint',
  },
  inputs: ['pg_sequences'],
  thresholds: {
    warning: { default: 75, unit: '%', help: 'share of the range used', min: 1, max: 100 },
    critical: { default: 90, unit: '%', help: 'share of the range used', min: 1, max: 100 },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    for (const r of newestPerSequence(input.rows('pg_sequences'))) {
      if (r.cycle === true) continue;
      const pct = num(r.used_pct);
      const severity = grade(pct, t);
      if (!severity || pct === null) continue;
      const datname = str(r.datname);
      const schema = str(r.schemaname);
      const seq = str(r.sequencename);
      const name = qualified(schema, seq);
      const type = str(r.data_type).toLowerCase();
      const widen = type === 'smallint' || type === 'integer';
      const descending = (num(r.increment_by) ?? 1) < 0;
      const end = descending ? str(r.min_value) : str(r.max_value);
      // A bigint sequence whose end was set below the type's own can have it raised.
      const lowered = !widen && end !== (descending ? bigintMin : bigintMax);
      // The column that takes its values: the OWNED BY (serial) or identity link.
      const owner = `SELECT d.refobjid::regclass AS table_name, a.attname AS column_name FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid WHERE d.objid = ${literal(name)}::regclass AND d.classid = 'pg_class'::regclass AND d.refobjsubid > 0;`;
      const statements = widen
        ? [owner, `ALTER SEQUENCE ${name} AS bigint;`]
        : lowered
          ? [owner, `ALTER SEQUENCE ${name} ${descending ? 'NO MINVALUE' : 'NO MAXVALUE'};`]
          : [owner];
      out.push({
        object: objectIn(datname, schema, seq),
        severity,
        title: `Sequence ${cut(name, 200)} in ${cut(datname, 100)} has used ${Math.round(pct)} % of its range`,
        explanation:
          `Sequence ${name} (${type || 'unknown type'}) in database ${datname} has handed out ${round2(pct)} % of its values (last ${str(r.last_value)}, end ${end}). ` +
          'When it reaches the end, every INSERT that draws from it fails. ' +
          (widen
            ? 'Make the sequence bigint, and the column that takes its values too — ALTER TABLE … ALTER COLUMN … TYPE bigint rewrites the table under an exclusive lock, so plan it (or migrate through a new column) before the sequence runs out; the first statement of the action finds that column.'
            : lowered
              ? `It is bigint with its end set short of the type's (${end}): lift it once the column can hold the values.`
              : 'It is bigint over its full range: something draws values far faster than rows are kept (a large increment, or a sequence shared by many tables) — find what uses it.'),
        evidence: {
          datname,
          schemaname: schema,
          sequencename: seq,
          data_type: type,
          last_value: exact(r.last_value),
          min_value: exact(r.min_value),
          max_value: exact(r.max_value),
          increment_by: exact(r.increment_by),
          cycle: r.cycle === true,
          used_pct: round2(pct),
        },
        action: psqlCommand(datname, statements, input),
        value: round2(pct),
      });
    }
    return out;
  },
};

export const postgresSequenceChecks = [pgSequenceExhaustion];
