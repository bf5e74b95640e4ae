/**
 * End-to-end over the fixture trees: every collector (filesystem aside: statfs reads the real machine)
 * runs on /proc of Linux 6.1 and, 10 s later, on its successor tree, with cgroup v2. The rows and the
 * rendered /metrics must equal the golden files, so any change in what the agent reports is a visible
 * diff. Regenerate after an intended change with PGVIGIL_UPDATE_GOLDEN=1 and review the diff.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { fakeContext, fixture } from '../../../test/helpers/collect.js';
import { families } from '../../protocol/families/index.js';
import type { FamilySpec } from '../../protocol/families/types.js';
import { renderExposition } from '../exporter.js';
import { createCollectors } from './index.js';
import { parseProcessWatch } from './process.js';
import type { ExposedMetric, FamilyRows, Row } from './types.js';

const update = process.env.PGVIGIL_UPDATE_GOLDEN === '1';

async function collectTree(): Promise<{ rows: FamilyRows[]; exposition: ExposedMetric[] }> {
  const collectors = createCollectors({
    watches: ['postgres', '/checkpointer/', 'nginx'].map(parseProcessWatch),
  })
    .map((g) => g.collector)
    .filter((c) => c.name !== 'filesystem');
  const ctx = fakeContext({ procRoot: fixture('proc', '6.1.0'), sysRoot: fixture('cgroup', 'v2') });
  for (const c of collectors) await c.collect(ctx);
  ctx.advance(10_000);
  ctx.procRoot = fixture('proc', '6.1.0-later');
  const rows: FamilyRows[] = [];
  const exposition: ExposedMetric[] = [];
  for (const c of collectors) {
    ctx.exposed = undefined;
    rows.push(...(await c.collect(ctx)));
    exposition.push(...(ctx.exposed ?? []));
  }
  return { rows, exposition };
}

function golden(name: string, actual: string): void {
  const path = fixture('golden', name);
  if (update) writeFileSync(path, actual);
  assert.equal(
    actual,
    readFileSync(path, 'utf8'),
    `${name} changed; if intended, rerun with PGVIGIL_UPDATE_GOLDEN=1`,
  );
}

test('collected_rows_over_the_fixture_tree_match_the_golden_file', async () => {
  const { rows } = await collectTree();
  golden('agent-rows-6.1.0.json', `${JSON.stringify(rows, null, 1)}\n`);
});

test('metrics_over_the_fixture_tree_match_the_golden_file', async () => {
  const { exposition } = await collectTree();
  golden('agent-metrics-6.1.0.prom', renderExposition(exposition));
});

test('rows_conform_to_their_family_specs', async () => {
  const { rows } = await collectTree();
  for (const fr of rows) {
    const spec: FamilySpec | undefined = families[fr.family];
    assert.ok(spec, `family ${fr.family} is registered`);
    const names = spec.columns.map((c) => c.name);
    for (const row of fr.rows as Row[]) {
      assert.deepEqual(
        Object.keys(row).sort(),
        [...names].sort(),
        `${fr.family} row has exactly its columns`,
      );
      for (const col of spec.columns) {
        const v: Row[string] | undefined = row[col.name];
        if (col.label) assert.ok(typeof v === 'string' && v !== '', `${fr.family}.${col.name} label is set`);
        if (v === null) continue;
        const expected: string = col.type === 'text' ? 'string' : col.type === 'bool' ? 'boolean' : 'number';
        assert.equal(typeof v, expected, `${fr.family}.${col.name} is ${col.type}`);
        if (col.type === 'int8' || col.type === 'int4')
          assert.ok(Number.isInteger(v), `${fr.family}.${col.name} is whole`);
        if (typeof v === 'number') assert.ok(Number.isFinite(v), `${fr.family}.${col.name} is finite`);
      }
    }
  }
});
