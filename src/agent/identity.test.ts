import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { machineIdentity } from './identity.js';

test('machine_identity_is_a_hash_of_the_first_valid_machine_id_and_undefined_without_one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-machine-'));
  try {
    const empty = join(dir, 'empty');
    const bad = join(dir, 'bad');
    const good = join(dir, 'good');
    const other = join(dir, 'other');
    await writeFile(empty, '');
    await writeFile(bad, 'uninitialized\n');
    await writeFile(good, '0123456789abcdef0123456789abcdef\n');
    await writeFile(other, 'fedcba9876543210fedcba9876543210\n');
    const id = await machineIdentity([join(dir, 'missing'), empty, bad, good]);
    assert.match(id ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(id, '0123456789abcdef0123456789abcdef', 'the machine id itself never leaves the host');
    assert.equal(await machineIdentity([good]), id, 'the same host gives the same identity');
    assert.notEqual(await machineIdentity([other]), id);
    assert.equal(await machineIdentity([join(dir, 'missing'), empty, bad]), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
