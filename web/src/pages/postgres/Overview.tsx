import type { TargetParams } from '../Postgres';

export function OverviewSection(_p: TargetParams) {
  return <p>Coming together.</p>;
}
