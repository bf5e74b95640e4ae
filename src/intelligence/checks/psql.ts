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

/** A target's settings snapshot (pg_settings, as the checks' inputs read it). */
export interface TargetSettings {
  setting(name: string): string | undefined;
}

/** How far back a target's settings snapshots are searched for its port (one is sent when they change). */
const portSnapshotMs = 7 * 86_400_000;

/** The `since` of `targetPorts` (src/storage/queries/findings.sql.ts) for a job run at `now`. */
export const portsSince = (now: Date): Date => new Date(now.getTime() - portSnapshotMs);

/** The settings a psql command needs of one target, from the ports `targetPorts` read (keyed `serverId/targetId`). */
export function portOf(
  ports: ReadonlyMap<string, string> | undefined,
  serverId: number,
  targetId: number | null,
): TargetSettings {
  const port = targetId === null ? undefined : ports?.get(`${serverId}/${targetId}`);
  return { setting: (name) => (name === 'port' ? port : undefined) };
}

/**
 * The systemd unit that runs the target: a Debian cluster's own (pg_createcluster sets cluster_name to
 * "15/main": `postgresql@15-main`, where `postgresql` alone is every cluster of the host), else
 * `postgresql`.
 */
export function serviceOf(target: TargetSettings): string {
  const m = /^(\d{1,3})\/([A-Za-z0-9_.-]{1,63})$/.exec(target.setting('cluster_name') ?? '');
  return m ? `postgresql@${m[1]}-${m[2]}` : 'postgresql';
}

/**
 * `psql [-p <port>] -d <db> -c "…" -c "…"`; without a database for instance-wide statements. With the
 * target's settings, the port it listens on when that is not psql's default 5432 (a second cluster of a
 * host, an embedded server), so that the command pasted on its host reaches it and not another one.
 */
export function psqlCommand(
  datname: string | null,
  statements: readonly string[],
  target?: TargetSettings,
): string {
  const port = target?.setting('port');
  const p = port !== undefined && /^[1-9]\d{0,4}$/.test(port) && port !== '5432' ? ` -p ${port}` : '';
  const db = datname === null || datname === '' ? '' : ` -d ${shellWord(datname)}`;
  return `psql${p}${db}${statements.map((s) => ` -c ${shellSql(s)}`).join('')}`;
}

/** The stable object key of a schema object in a database: `shop/public.orders` (raw names). */
export function objectIn(datname: string, schema: string, name: string): string {
  return `${datname}/${schema}.${name}`;
}
