/** Users: names, roles, password hashes and per-user settings. */
import type { Queryable } from './queryable.js';

export type UserRoleName = 'viewer' | 'user' | 'admin';

/** A user as the admin API lists it. */
export interface UserRow {
  userId: number;
  name: string;
  role: UserRoleName;
  createdAt: Date;
  disabled: boolean;
}

const userRowColumns = `user_id::int AS "userId", name, role, created_at AS "createdAt", disabled_at IS NOT NULL AS disabled`;

/** Inserts a user; a duplicate name raises 23505. Returns the new id. */
export async function insertUser(
  db: Queryable,
  name: string,
  role: UserRoleName,
  passwordHash: string,
): Promise<number> {
  const { rows } = await db.query<{ user_id: string }>(
    'INSERT INTO pgvigil.users (name, role, password_hash) VALUES ($1, $2, $3) RETURNING user_id',
    [name, role, passwordHash],
  );
  return Number(rows[0]!.user_id);
}

/** Serialises "is there (still) an admin?" decisions across instances, until the transaction ends. */
export async function lockAdminSet(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('pgvigil.first-admin'))`);
}

export async function countUsers(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pgvigil.users');
  return rows[0]!.n;
}

/** Active admins other than `userId`. */
export async function countOtherActiveAdmins(db: Queryable, userId: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pgvigil.users WHERE role = 'admin' AND disabled_at IS NULL AND user_id <> $1`,
    [userId],
  );
  return rows[0]!.n;
}

/** The role of an active (not disabled) user. */
export async function activeUserRole(db: Queryable, userId: number): Promise<UserRoleName | undefined> {
  const { rows } = await db.query<{ role: UserRoleName }>(
    'SELECT role FROM pgvigil.users WHERE user_id = $1 AND disabled_at IS NULL',
    [userId],
  );
  return rows[0]?.role;
}

export interface LoginRow {
  user_id: string;
  name: string;
  role: UserRoleName;
  password_hash: string;
}

/** An active user by name, case-insensitively, with the password hash to check. */
export async function activeUserByName(db: Queryable, name: string): Promise<LoginRow | undefined> {
  const { rows } = await db.query<LoginRow>(
    'SELECT user_id, name, role, password_hash FROM pgvigil.users WHERE lower(name) = lower($1) AND disabled_at IS NULL',
    [name],
  );
  return rows[0];
}

export async function userPasswordHash(db: Queryable, userId: number): Promise<string | undefined> {
  const { rows } = await db.query<{ password_hash: string }>(
    'SELECT password_hash FROM pgvigil.users WHERE user_id = $1',
    [userId],
  );
  return rows[0]?.password_hash;
}

/** Stores a new password hash; false when there is no such user. */
export async function updatePasswordHash(db: Queryable, userId: number, hash: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE pgvigil.users SET password_hash = $2, password_changed_at = now() WHERE user_id = $1',
    [userId, hash],
  );
  return (rowCount ?? 0) > 0;
}

/** Users by id, at most `limit` (null: all). */
export async function listUsers(db: Queryable, limit: number | null): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>(
    `SELECT ${userRowColumns} FROM pgvigil.users ORDER BY user_id LIMIT $1`,
    [limit],
  );
  return rows;
}

/** The id of the user with this name, compared case-insensitively (`exact`: as written). */
export async function userIdByName(db: Queryable, name: string, exact = false): Promise<number | undefined> {
  const { rows } = await db.query<{ user_id: string }>(
    exact
      ? 'SELECT user_id FROM pgvigil.users WHERE name = $1'
      : 'SELECT user_id FROM pgvigil.users WHERE lower(name) = lower($1)',
    [name],
  );
  return rows[0] ? Number(rows[0].user_id) : undefined;
}

/** The active admin with the lowest id. */
export async function firstActiveAdmin(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT user_id FROM pgvigil.users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY user_id LIMIT 1`,
  );
  return rows[0] ? Number(rows[0].user_id) : undefined;
}

/** Changes role and/or disabled state (null leaves it); the changed user, or undefined when absent. */
export async function updateUser(
  db: Queryable,
  userId: number,
  role: UserRoleName | null,
  disabled: boolean | null,
): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(
    `UPDATE pgvigil.users SET role = coalesce($2, role),
            disabled_at = CASE WHEN $3::boolean IS NULL THEN disabled_at WHEN $3 THEN coalesce(disabled_at, now()) ELSE NULL END
      WHERE user_id = $1
      RETURNING ${userRowColumns}`,
    [userId, role, disabled],
  );
  return rows[0];
}

/** Deletes a user (sessions and API tokens go with them); false when absent. */
export async function deleteUser(db: Queryable, userId: number): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.users WHERE user_id = $1', [userId]);
  return (rowCount ?? 0) > 0;
}

export async function userSettings(
  db: Queryable,
  userId: number,
): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.query<{ settings: Record<string, unknown> }>(
    'SELECT settings FROM pgvigil.users WHERE user_id = $1',
    [userId],
  );
  return rows[0]?.settings;
}

export async function storeUserSettings(
  db: Queryable,
  userId: number,
  settings: Record<string, unknown>,
): Promise<void> {
  await db.query('UPDATE pgvigil.users SET settings = $2 WHERE user_id = $1', [
    userId,
    JSON.stringify(settings),
  ]);
}

/** The shared access-token signing key, made on first use by whichever instance gets there first. */
export async function accessTokenKey(db: Queryable, candidate: Buffer): Promise<Buffer> {
  await db.query(
    `INSERT INTO pgvigil.server_keys (name, secret) VALUES ('access-token', $1) ON CONFLICT (name) DO NOTHING`,
    [candidate],
  );
  const { rows } = await db.query<{ secret: Buffer }>(
    `SELECT secret FROM pgvigil.server_keys WHERE name = 'access-token'`,
  );
  return rows[0]!.secret;
}
