/**
 * How the PostgreSQL object checks write actions and objects. Tables, indexes and sequences live in one
 * database of a target, so an action on them is given as a psql command that connects to that database
 * (`psql -d shop -c "VACUUM (VERBOSE, ANALYZE) public.orders;"`): pasted as is, it runs in the right
 * place. Each statement gets its own `-c` (VACUUM and CONCURRENTLY refuse to run inside the implicit
 * transaction of a multi-statement `-c`). The object key names the database too: two databases of one
 * target may both have `public.orders`.
 */
import { shellWord } from './util.js';

/** A statement as one shell word: double quotes when nothing in it is special inside them. */
export function shellSql(sql: string): string {
  return /^[^"$`\\!]*$/.test(sql) ? `"${sql}"` : shellWord(sql);
}

/** `psql -d <db> -c "…" -c "…"`; without a database for instance-wide statements. */
export function psqlCommand(datname: string | null, statements: readonly string[]): string {
  const db = datname === null || datname === '' ? '' : ` -d ${shellWord(datname)}`;
  return `psql${db}${statements.map((s) => ` -c ${shellSql(s)}`).join('')}`;
}

/** The stable object key of a schema object in a database: `shop/public.orders` (raw names). */
export function objectIn(datname: string, schema: string, name: string): string {
  return `${datname}/${schema}.${name}`;
}
