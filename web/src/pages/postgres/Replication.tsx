import type { TargetParams } from '../Postgres';

export function ReplicationSection(_p: TargetParams) {
  return <p>Coming together.</p>;
}
