/**
 * A bound on the shape of a parsed JSON value, checked before anything else walks it.
 *
 * `JSON.parse` itself copes with any nesting, but the code after it does not: `JSON.stringify`, a
 * recursive copy or a validator overflows the stack on a value nested thousands deep, and a million keys
 * in one object makes every later lookup slow. `checkJsonShape` walks the value once with an explicit
 * stack (never recursion, so the guard cannot overflow either) and stops at the first value beyond a
 * limit, naming its path. It also refuses what PostgreSQL cannot store in text or jsonb: strings with a
 * NUL character or a lone UTF-16 surrogate.
 */

export interface JsonShapeLimits {
  /** Containers (objects, arrays) inside one another; the top value is depth 1. */
  maxDepth: number;
  /** Keys of one object. */
  maxKeys: number;
  /** Length of one string (values and keys), in UTF-16 code units. */
  maxStringLength: number;
  /** Values in the whole document (containers, keys not counted, scalars). */
  maxValues: number;
}

/** For a batch: rows are at depth 5 (body → families → family → rows → row), jsonb values nest below. */
export const batchShapeLimits: JsonShapeLimits = {
  maxDepth: 32,
  maxKeys: 10_000,
  maxStringLength: 1024 * 1024,
  maxValues: 8_000_000,
};

/** For every other JSON request body (at most 1 MiB). */
export const bodyShapeLimits: JsonShapeLimits = {
  maxDepth: 32,
  maxKeys: 1_000,
  maxStringLength: 256 * 1024,
  maxValues: 100_000,
};

export type JsonShapeCheck =
  | { ok: true }
  | { ok: false; kind: 'invalid' | 'too-large'; path: string; message: string };

const identRe = /^[A-Za-z_$][\w$]*$/;

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (identRe.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this looks for.
const suspectRe = /[\u0000\ud800-\udfff]/;

function stringProblem(s: string, limits: JsonShapeLimits): string | undefined {
  if (s.length > limits.maxStringLength) return `string longer than ${limits.maxStringLength} characters`;
  // One scan for the common case: neither a NUL nor any surrogate (half).
  if (!suspectRe.test(s)) return undefined;
  if (s.includes('\u0000')) return 'string contains a NUL character';
  // ES2024 (Node 20 has it; the compiler's lib is ES2023).
  if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed())
    return 'string contains a lone UTF-16 surrogate';
  return undefined;
}

/**
 * Checks `value` (as `JSON.parse` returns it) against `limits`. Paths look like `status.x[0][0]`; the
 * root is the empty path.
 */
export function checkJsonShape(value: unknown, limits: JsonShapeLimits): JsonShapeCheck {
  // Pending containers with their depth. Paths are closures, built only for containers and only turned
  // into text when something is wrong: a batch has millions of scalars and no path is needed for them.
  const stack: Array<{ v: object; depth: number; path: () => string }> = [];
  let values = 0;
  const at = (parent: () => string, key: string | number | undefined): string =>
    key === undefined ? parent() : child(parent(), key);
  const visit = (
    v: unknown,
    depth: number,
    parent: () => string,
    key: string | number | undefined,
  ): JsonShapeCheck | undefined => {
    values++;
    if (values > limits.maxValues) {
      return {
        ok: false,
        kind: 'too-large',
        path: at(parent, key),
        message: `more than ${limits.maxValues} values`,
      };
    }
    if (typeof v === 'string') {
      const problem = stringProblem(v, limits);
      return problem ? { ok: false, kind: 'invalid', path: at(parent, key), message: problem } : undefined;
    }
    if (typeof v !== 'object' || v === null) return undefined;
    if (depth > limits.maxDepth) {
      return {
        ok: false,
        kind: 'invalid',
        path: at(parent, key),
        message: `nested deeper than ${limits.maxDepth} levels`,
      };
    }
    stack.push({ v, depth, path: () => at(parent, key) });
    return undefined;
  };
  const first = visit(value, 1, () => '', undefined);
  if (first) return first;
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        // Fast path for what batch rows are mostly made of.
        if ((typeof x === 'number' || typeof x === 'boolean' || x === null) && values < limits.maxValues) {
          values++;
          continue;
        }
        const bad = visit(x, depth + 1, path, i);
        if (bad) return bad;
      }
      continue;
    }
    const keys = Object.keys(v);
    if (keys.length > limits.maxKeys) {
      return { ok: false, kind: 'too-large', path: path(), message: `more than ${limits.maxKeys} keys` };
    }
    for (const k of keys) {
      const keyProblem = stringProblem(k, limits);
      if (keyProblem)
        return { ok: false, kind: 'invalid', path: child(path(), k), message: `key: ${keyProblem}` };
      const bad = visit((v as Record<string, unknown>)[k], depth + 1, path, k);
      if (bad) return bad;
    }
  }
  return { ok: true };
}
