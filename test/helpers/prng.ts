/**
 * A small seeded PRNG for fuzz tests (mulberry32): the same seed gives the same inputs on every machine,
 * so a failure names its seed and replays. PGVIGIL_FUZZ_SEED overrides a test's fixed seed.
 */
export interface Prng {
  /** In [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

export function fuzzSeed(fixed: number): number {
  const env = process.env.PGVIGIL_FUZZ_SEED;
  return env === undefined || env === '' ? fixed : Number(env);
}

export function mulberry32(seed: number): Prng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}
