/** Login sessions: the refresh token (rotated on every use) behind a browser's or client's access tokens. */
import type { Queryable } from './queryable.js';
import type { UserRoleName } from './users.sql.js';

export async function insertSession(
  db: Queryable,
  s: { sessionId: string; userId: number; refreshHash: Buffer; expiresAt: Date; client: string | null },
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.sessions (session_id, user_id, refresh_hash, expires_at, client) VALUES ($1, $2, $3, $4, $5)`,
    [s.sessionId, s.userId, s.refreshHash, s.expiresAt, s.client],
  );
}

export interface RotatedSession {
  session_id: string;
  user_id: string;
  name: string;
  role: UserRoleName;
  expires_at: Date;
}

/**
 * Replaces a live session's refresh hash (keeping the old one as `previous_hash`) when the user is still
 * active; undefined when no live session has that refresh hash.
 */
export async function rotateRefresh(
  db: Queryable,
  refreshHash: Buffer,
  nextHash: Buffer,
): Promise<RotatedSession | undefined> {
  const { rows } = await db.query<RotatedSession>(
    `UPDATE pgvigil.sessions s SET refresh_hash = $2, previous_hash = s.refresh_hash, refreshed_at = now()
       FROM pgvigil.users u
      WHERE s.refresh_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
        AND u.user_id = s.user_id AND u.disabled_at IS NULL
      RETURNING s.session_id, u.user_id, u.name, u.role, s.expires_at`,
    [refreshHash, nextHash],
  );
  return rows[0];
}

/** Revokes the session whose previous refresh hash this is (a rotated-away token came back: a copy). */
export async function revokeByPreviousRefresh(db: Queryable, refreshHash: Buffer): Promise<void> {
  await db.query(
    `UPDATE pgvigil.sessions SET revoked_at = now(), revoked_reason = 'refresh token reused'
      WHERE previous_hash = $1 AND revoked_at IS NULL`,
    [refreshHash],
  );
}

/** Revokes a user's live sessions but `keep`; how many. */
export async function revokeSessionsOfUser(
  db: Queryable,
  userId: number,
  reason: string,
  keep: string | null,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.sessions SET revoked_at = now(), revoked_reason = $2
      WHERE user_id = $1 AND revoked_at IS NULL AND session_id IS DISTINCT FROM $3`,
    [userId, reason, keep],
  );
  return rowCount ?? 0;
}

export async function revokeSessionById(db: Queryable, sessionId: string, reason: string): Promise<void> {
  await db.query(
    'UPDATE pgvigil.sessions SET revoked_at = now(), revoked_reason = $2 WHERE session_id = $1 AND revoked_at IS NULL',
    [sessionId, reason],
  );
}

/** The user behind a live session, with today's role, when the session and the user are both active. */
export async function liveSessionUser(
  db: Queryable,
  sessionId: string,
): Promise<{ user_id: string; name: string; role: UserRoleName } | undefined> {
  const { rows } = await db.query<{ user_id: string; name: string; role: UserRoleName }>(
    `SELECT u.user_id, u.name, u.role FROM pgvigil.sessions s JOIN pgvigil.users u USING (user_id)
      WHERE s.session_id = $1 AND s.revoked_at IS NULL AND u.disabled_at IS NULL`,
    [sessionId],
  );
  return rows[0];
}
