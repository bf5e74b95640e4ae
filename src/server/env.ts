/**
 * Numbers the server takes from its environment (PGVIGIL_FINDINGS_INTERVAL, PGVIGIL_ROLLUP_WORKERS, …),
 * read at start: a value outside its range stops the server, naming the variable and the range.
 */
import { PgvigilError } from '../errors.js';

/**
 * `name`'s number in `env`, undefined when unset or empty. `whole` (default true) wants an integer;
 * `unit` words the range in the error ("expected seconds from 5 to 3600").
 */
export function numberFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  range: { min: number; max?: number; whole?: boolean; unit?: string },
): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  const whole = range.whole ?? true;
  if (
    !Number.isFinite(n) ||
    (whole && !Number.isInteger(n)) ||
    n < range.min ||
    (range.max !== undefined && n > range.max)
  ) {
    const expected =
      range.max === undefined
        ? `a whole number ≥ ${range.min}`
        : `${range.unit ? `${range.unit} from ` : ''}${range.min} to ${range.max}`;
    throw new PgvigilError('BAD_ARGUMENT', `${name}=${v.slice(0, 20)}: expected ${expected}`);
  }
  return n;
}
