import type { TargetParams } from '../Postgres';

export function SettingsSection(_p: TargetParams) {
  return <p>Coming together.</p>;
}
