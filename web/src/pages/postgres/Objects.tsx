import type { TargetParams } from '../Postgres';

export function ObjectsSection(_p: TargetParams) {
  return <p>Coming together.</p>;
}
