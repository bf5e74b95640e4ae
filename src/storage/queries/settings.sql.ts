/** Settings an admin changes through the API (`pgvigil.settings`, one JSON value per name). */
import type { Queryable } from './queryable.js';

export type SettingName = 'retention';

export async function setting<T>(db: Queryable, name: SettingName): Promise<T | undefined> {
  const { rows } = await db.query<{ value: T }>('SELECT value FROM pgvigil.settings WHERE name = $1', [name]);
  return rows[0]?.value;
}

export async function storeSetting(
  db: Queryable,
  name: SettingName,
  value: unknown,
  by: string,
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.settings (name, value, updated_by) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()`,
    [name, JSON.stringify(value), by],
  );
}
