import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgvigilError } from './errors.js';
import { loadSecretBox, SecretBox } from './secrets.js';

test('a sealed value opens with the same key and is not readable in its sealed bytes', () => {
  const box = SecretBox.random();
  const secret = 'https://hooks.slack.com/services/T000/B000/XXXXSECRET';
  const sealed = box.seal(secret);
  assert.equal(sealed[0], 1, 'version byte');
  assert.equal(sealed.length, 1 + 12 + 16 + Buffer.byteLength(secret));
  assert.ok(!sealed.includes(Buffer.from('XXXXSECRET')));
  assert.equal(box.open(sealed).toString(), secret);
  assert.notDeepEqual(box.seal(secret), sealed, 'a fresh nonce each time');
  assert.deepEqual(box.openJson(box.sealJson({ a: [1, 'x'] })), { a: [1, 'x'] });
});

test('a wrong key, a damaged value or another context is refused with SECRET_UNREADABLE', () => {
  const sealed = SecretBox.random().seal('s3cret');
  const refused = (fn: () => unknown) =>
    assert.throws(fn, (e: unknown) => e instanceof PgvigilError && e.code === 'SECRET_UNREADABLE');
  refused(() => SecretBox.random().open(sealed));
  const box = SecretBox.random();
  const mine = box.seal('s3cret', 'channel');
  refused(() => box.open(mine, 'target'));
  const damaged = Buffer.from(mine);
  damaged[damaged.length - 1]! ^= 1;
  refused(() => box.open(damaged, 'channel'));
  refused(() => box.open(Buffer.from([2, ...mine.subarray(1)]), 'channel'));
  refused(() => box.open(Buffer.alloc(5)));
});

test('a key that is not 32 bytes is refused with SECRET_KEY_INVALID', () => {
  assert.throws(() => new SecretBox(randomBytes(16)), { code: 'SECRET_KEY_INVALID' });
});

test('the key comes from PGVIGIL_SECRET_KEY, else a key file created 0600 on first start and kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-secrets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = randomBytes(32);
  const fromEnv = await loadSecretBox({ dataDir: dir, env: { PGVIGIL_SECRET_KEY: key.toString('base64') } });
  assert.equal(fromEnv.source, 'env');
  assert.equal(new SecretBox(key).open(fromEnv.box.seal('x')).toString(), 'x');

  const first = await loadSecretBox({ dataDir: join(dir, 'data'), env: {} });
  assert.equal(first.source, 'created');
  assert.equal(first.file, join(dir, 'data', 'secret.key'));
  assert.equal((await stat(first.file!)).mode & 0o777, 0o600);
  const again = await loadSecretBox({ dataDir: join(dir, 'data'), env: {} });
  assert.equal(again.source, 'file');
  assert.equal(again.box.open(first.box.seal('kept')).toString(), 'kept');

  const other = join(dir, 'other.key');
  await writeFile(other, `${randomBytes(32).toString('base64')}\n`);
  const fromFile = await loadSecretBox({ dataDir: dir, env: { PGVIGIL_SECRET_KEY_FILE: other } });
  assert.equal(fromFile.file, other);
  assert.equal(Buffer.from((await readFile(other, 'utf8')).trim(), 'base64').length, 32);
});

test('servers starting together on one data directory all end up with the one key created', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-secrets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const boxes = await Promise.all(Array.from({ length: 8 }, () => loadSecretBox({ dataDir: dir, env: {} })));
  assert.equal(boxes.filter((b) => b.source === 'created').length, 1);
  const sealed = boxes[0]!.box.seal('shared');
  for (const b of boxes) assert.equal(b.box.open(sealed).toString(), 'shared');
  assert.deepEqual(await readdir(dir), ['secret.key'], 'no temporary file left');
});

test('a malformed key in the environment or the file is refused, naming where it came from', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-secrets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(loadSecretBox({ dataDir: dir, env: { PGVIGIL_SECRET_KEY: 'too-short' } }), {
    code: 'SECRET_KEY_INVALID',
    message: /PGVIGIL_SECRET_KEY: expected base64 of 32 bytes/,
  });
  const bad = join(dir, 'bad.key');
  await writeFile(bad, 'not base64 at all!\n');
  await assert.rejects(loadSecretBox({ dataDir: dir, env: { PGVIGIL_SECRET_KEY_FILE: bad } }), {
    code: 'SECRET_KEY_INVALID',
    message: new RegExp(bad),
  });
});

test('the_key_id_names_the_key_without_revealing_it', () => {
  const key = Buffer.alloc(32, 9);
  const a = new SecretBox(key);
  assert.match(a.keyId, /^[0-9a-f]{16}$/);
  assert.equal(a.keyId, new SecretBox(Buffer.from(key)).keyId);
  assert.notEqual(a.keyId, SecretBox.random().keyId);
  assert.ok(!key.toString('hex').includes(a.keyId));
});
