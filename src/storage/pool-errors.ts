/**
 * The errors of a pool's connections, heard for their whole life (re-exported by ./tx.ts): a module of its
 * own so that ./read-replicas.ts, which ./tx.ts imports, can use it too.
 */
import type pg from 'pg';

/**
 * Gives a pool's connections an 'error' listener for their whole life. pg-pool listens only while a
 * connection is idle (and re-emits on the pool, where nobody may listen); a connection that is checked
 * out when its server goes away (kill -9, restart, pg_terminate_backend) would otherwise raise an uncaught
 * 'error' event and end the process. The query running on it fails by itself, so `report` only logs.
 */
export function handlePoolErrors(pool: pg.Pool, report: (err: Error, idle: boolean) => void): void {
  pool.on('error', (err) => report(err, true));
  pool.on('connect', (client) => client.on('error', (err) => report(err, false)));
}
