/** The agent certificate authority: its certificate and its sealed private key (one row). */
import type { Queryable } from './queryable.js';

export interface StoredAgentCa {
  certificate: string;
  keySealed: Buffer;
}

export async function agentCa(db: Queryable): Promise<StoredAgentCa | undefined> {
  const { rows } = await db.query<{ certificate: string; key_sealed: Buffer }>(
    'SELECT certificate, key_sealed FROM pgvigil.agent_ca WHERE ca_id = 1',
  );
  const r = rows[0];
  return r ? { certificate: r.certificate, keySealed: r.key_sealed } : undefined;
}

/** Stores a new CA unless one exists (another server made it first); false when one existed. */
export async function insertAgentCa(db: Queryable, ca: StoredAgentCa): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO pgvigil.agent_ca (ca_id, certificate, key_sealed) VALUES (1, $1, $2)
     ON CONFLICT (ca_id) DO NOTHING`,
    [ca.certificate, ca.keySealed],
  );
  return (rowCount ?? 0) > 0;
}
