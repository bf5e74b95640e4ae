import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { mulberry32 } from '../../../test/helpers/prng.js';
import { FleetCache, sparklineValue } from './fleet.js';

test('a sparkline value is the number with four significant digits, as toPrecision(4) gives it', () => {
  const random = mulberry32(7);
  for (let i = 0; i < 200_000; i++) {
    const x = (random.next() - 0.2) * 10 ** Math.floor(random.next() * 40 - 20);
    assert.equal(sparklineValue(x), Number(x.toPrecision(4)), String(x));
  }
  for (const x of [0, 1, 100, 99.995, 0.1, 123456789, 1e-30, 1e30, 5e-324, Number.MAX_VALUE])
    assert.equal(sparklineValue(x), Number(x.toPrecision(4)), String(x));
  assert.ok(Number.isNaN(sparklineValue(Number.NaN)));
});

/** An answer made at `asOf`, with its making counted. */
function counted(fail = () => false) {
  const made = { n: 0 };
  const make = async () => {
    made.n++;
    await new Promise((r) => setTimeout(r, 20));
    if (fail()) throw new Error('store away');
    return {
      tier: 'minute',
      stepSeconds: 60,
      from: 0,
      to: 0,
      truncated: false,
      asOf: Date.now(),
      servers: [],
    };
  };
  return { made, make };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the default answer is made once for requests within its age and again after it', async () => {
  const { made, make } = counted();
  const cache = new FleetCache(make, { maxAgeMs: 150, refreshMs: 60_000, keepWarmMs: 0 });
  try {
    const [a, b, c] = await Promise.all([cache.get(), cache.get(), cache.get()]);
    assert.equal(made.n, 1, 'requests arriving while it is made wait for that making');
    assert.ok(a === b && b === c);
    assert.equal(await cache.get(), a, 'younger than maxAgeMs: served as it is');
    assert.equal(made.n, 1);
    await sleep(200);
    const d = await cache.get();
    assert.equal(made.n, 2, 'older than maxAgeMs: made again');
    assert.ok(d.answer.asOf > a.answer.asOf);
    assert.deepEqual(d.codings(), ['br'], 'made ready for the dashboard: brotli');
    assert.equal(brotliDecompressSync(await d.encoded('br')).toString(), d.json, 'the brotli is the JSON');
    assert.equal(gunzipSync(await d.encoded('gzip')).toString(), d.json, 'the gzip is the JSON');
    assert.equal(await d.encoded('gzip'), await d.encoded('gzip'), 'compressed once per coding');
    assert.deepEqual(JSON.parse(d.json), d.answer);
    await sleep(200);
    const e = await cache.get();
    assert.deepEqual(
      e.codings().sort(),
      ['br', 'gzip'],
      'remade compressed as the answer before was asked for',
    );
  } finally {
    cache.close();
  }
});

test('a failed making is not kept: the request gets the error and the next one tries again', async () => {
  let failing = true;
  const { made, make } = counted(() => failing);
  const cache = new FleetCache(make, { maxAgeMs: 60_000, refreshMs: 60_000, keepWarmMs: 0 });
  try {
    await assert.rejects(cache.get(), /store away/);
    failing = false;
    const a = await cache.get();
    assert.equal(made.n, 2);
    assert.ok(a.answer.asOf > 0);
  } finally {
    cache.close();
  }
});

test('the answer is kept fresh from the start and while it is asked for, then left alone', async () => {
  const { made, make } = counted();
  const cache = new FleetCache(make, { maxAgeMs: 60_000, refreshMs: 100, keepWarmMs: 500 }, 10);
  try {
    await sleep(60);
    assert.equal(made.n, 1, 'made at start, before anyone asked');
    await sleep(900);
    const idle = made.n;
    assert.ok(idle >= 2, `remade in the background while the start is recent (${idle})`);
    await sleep(400);
    assert.equal(made.n, idle, 'nobody asked within keepWarmMs: no more making');
    await cache.get();
    assert.equal(made.n, idle, 'the kept answer is served');
    await sleep(400);
    assert.ok(made.n >= idle + 2, `asked for: remade in the background again (${made.n - idle})`);
  } finally {
    cache.close();
  }
});
