import type { TargetParams } from '../Postgres';

export function ActivitySection(_p: TargetParams) {
  return <p>Coming together.</p>;
}
