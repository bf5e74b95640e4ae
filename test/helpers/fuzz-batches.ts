/**
 * Generated batches for fuzz tests: a valid batch of random families and rows, and hostile variations of
 * it — a node replaced by deep nesting, an extreme number, a NUL, a lone surrogate, a name of
 * Object.prototype; keys renamed or dropped; the JSON text truncated or with a byte changed.
 */

import type { ColumnSpec } from '../../src/protocol/families/index.js';
import { families } from '../../src/protocol/families/index.js';
import { logEntryColumns } from '../../src/protocol/logs.js';
import type { Prng } from './prng.js';

const familyNames = Object.keys(families);

function value(rng: Prng, c: ColumnSpec, now: number): unknown {
  if (!c.label && rng.chance(0.1)) return null;
  switch (c.type) {
    case 'text':
      return `${c.name}-${rng.int(5)}`;
    case 'int4':
    case 'int8':
      return rng.int(100_000);
    case 'float4':
    case 'float8':
      return Math.round(rng.next() * 10_000) / 100;
    case 'bool':
      return rng.chance(0.5);
    case 'timestamptz':
      return now - rng.int(86_400_000);
    case 'jsonb':
      return { event: 'fuzz', n: rng.int(10) };
  }
}

function table(rng: Prng, specCols: readonly ColumnSpec[], target: boolean, now: number, seq: number) {
  const cols = specCols.filter((c) => c.name !== 'ts');
  const columns = ['ts', ...(target ? ['target'] : []), ...cols.map((c) => c.name)];
  const rows = Array.from({ length: 1 + rng.int(3) }, (_, r) => [
    // Distinct per (seq, row): rows of one series never collide on their key.
    now - (seq * 50 + r) * 7,
    ...(target ? ['main'] : []),
    ...cols.map((c) => value(rng, c, now)),
  ]);
  return { columns, rows };
}

/** A batch the server accepts (rows of 1–3 random families, sometimes logs and a status). */
export function validBatch(
  rng: Prng,
  agentId: string,
  seq: number,
  now = Date.now(),
): Record<string, unknown> {
  const fams: Record<string, unknown> = {};
  for (let i = 1 + rng.int(3); i > 0; i--) {
    const name = rng.pick(familyNames);
    const spec = families[name]!;
    fams[name] = table(rng, spec.columns, spec.scope === 'target', now, seq);
  }
  const b: Record<string, unknown> = { v: 1, agentId, seq, sealedAt: now, families: fams };
  if (rng.chance(0.3)) b.logs = table(rng, logEntryColumns, false, now, seq);
  if (rng.chance(0.3)) b.status = { collectors: { cpu: { ok: true } } };
  return b;
}

function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Stands for arrays nested n deep; `batchText` writes them out (JSON.stringify itself overflows there). */
const deepMarker = (n: number) => `@@deep${n}@@`;

const hostile: Array<(rng: Prng) => unknown> = [
  (rng) => deepMarker(20 + rng.int(6000)),
  (rng) => ({ x: nested(40 + rng.int(200), {}) }),
  (rng) => rng.pick([1e300, -1e300, 2 ** 63, -(2 ** 63), 1e-320, 0.1, -1, 0, 253_402_300_800_000]),
  (rng) => rng.pick(['\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '', ' ', '-1', 'NaN', 'Infinity']),
  (rng) =>
    rng.pick([
      '12/02/2026 10:00',
      'Thu, 12 Feb 2026 10:00:00 GMT',
      '2026-02-12T10:00:00',
      '2026-02-30T00:00:00Z',
    ]),
  (rng) => 'x'.repeat(rng.pick([17_000, 17_000, 17_000, 1_100_000])),
  () => ({}),
  () => [],
  () => null,
  () => true,
  (rng) => Object.fromEntries(Array.from({ length: rng.pick([10, 10, 10, 10_001]) }, (_, i) => [`k${i}`, i])),
  () => JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'),
];

const protoNames = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

/** Every container in `v` with the key that reaches each child (bounded: the batches here are small). */
function containers(v: unknown): Array<Record<string, unknown> | unknown[]> {
  const out: Array<Record<string, unknown> | unknown[]> = [];
  const stack = [v];
  while (stack.length > 0 && out.length < 10_000) {
    const x = stack.pop();
    if (typeof x !== 'object' || x === null) continue;
    out.push(x as Record<string, unknown>);
    stack.push(...Object.values(x));
  }
  return out;
}

/** One hostile change somewhere in `batch` (changed in place). */
export function mutate(rng: Prng, batch: Record<string, unknown>): void {
  const all = containers(batch);
  const c = rng.pick(all);
  const keys = Object.keys(c);
  const kind = rng.int(4);
  if (keys.length === 0 || kind === 0) {
    if (Array.isArray(c)) c.push(rng.pick(hostile)(rng));
    else c[rng.pick(protoNames)] = rng.pick(hostile)(rng);
    return;
  }
  const k = rng.pick(keys);
  if (kind === 1 && !Array.isArray(c)) {
    const v = c[k];
    delete c[k];
    // Defined as own data, as JSON.parse would: assignment to `__proto__` would set the prototype.
    Object.defineProperty(c, rng.pick(protoNames), {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return;
  }
  if (kind === 2 && rng.chance(0.5)) {
    if (Array.isArray(c)) c.splice(Number(k), 1);
    else delete c[k];
    return;
  }
  (c as Record<string, unknown>)[k] = rng.pick(hostile)(rng);
}

/** JSON text of a batch, sometimes damaged as text (truncated, a character changed). */
export function batchText(rng: Prng, batch: Record<string, unknown>): string {
  const text = JSON.stringify(batch).replace(
    /"@@deep(\d+)@@"/g,
    (_, n) => `${'['.repeat(Number(n))}1${']'.repeat(Number(n))}`,
  );
  const r = rng.int(10);
  if (r === 0) return text.slice(0, rng.int(text.length));
  if (r === 1) {
    const i = rng.int(text.length);
    return (
      text.slice(0, i) +
      rng.pick(['"', '{', ']', '\\', '\u0000', '9', ',', 'é', '\ud800']) +
      text.slice(i + 1)
    );
  }
  return text;
}
