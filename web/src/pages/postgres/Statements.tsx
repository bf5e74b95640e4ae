import type { TargetParams } from '../Postgres';

export function StatementsSection(_p: TargetParams) {
  return <p>Coming together.</p>;
}
