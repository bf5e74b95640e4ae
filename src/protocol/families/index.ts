/**
 * The registry of metric families. Each group lives in its own file beside this one (types in types.ts);
 * add a group by importing it here.
 */
import { appFamilies } from './app.js';
import { hostFamilies } from './host.js';
import { postgresFamilies } from './postgres.js';
import { processFamilies } from './process.js';
import type { FamilySpec } from './types.js';

export * from './types.js';
export { appFamilies, hostFamilies, postgresFamilies, processFamilies };

/**
 * Every family the protocol knows, by name. Null-prototype: a name from input (`constructor`,
 * `__proto__`) finds nothing rather than an Object.prototype member. Look names from input up with
 * `familyByName`.
 */
export const families: Record<string, FamilySpec> = Object.assign(Object.create(null), {
  ...hostFamilies,
  ...processFamilies,
  ...postgresFamilies,
  ...appFamilies,
});

/** A family's columns on the wire: `ts`, `target` for a target family, then the spec's columns. */
export function wireColumns(spec: FamilySpec): string[] {
  const names = spec.columns.map((c) => c.name);
  return spec.scope === 'target' ? ['ts', 'target', ...names] : ['ts', ...names];
}

/** The family of that name, own entries only. */
export function familyByName(name: string): FamilySpec | undefined {
  return Object.hasOwn(families, name) ? families[name] : undefined;
}
