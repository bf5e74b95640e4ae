/**
 * The registry of metric families. Each group lives in its own file beside this one (types in types.ts);
 * add a group by importing it here.
 */
import { hostFamilies } from './host.js';
import { postgresFamilies } from './postgres.js';
import { processFamilies } from './process.js';
import type { FamilySpec } from './types.js';

export * from './types.js';
export { hostFamilies, postgresFamilies, processFamilies };

/** Every family the protocol knows, by name. */
export const families: Record<string, FamilySpec> = {
  ...hostFamilies,
  ...processFamilies,
  ...postgresFamilies,
};
