/**
 * The server's own work per pushed batch, phase by phase, in one process and without a store: what the
 * ingest route does to a body before it queues it for the group transaction.
 *
 * Batches: the ingest bench's (`pgvigil bench ingest`: 1,009 values in 51 rows, healthy data), gzipped at
 * level 1 as the agent sends them, each with its own seq and time. Per round every batch goes through:
 * - decode: gunzip, JSON.parse, the shape guard and the body's SHA-256 (`decodeBatch`, its own timer);
 * - validate: the batch checked against the family registry (`decodeBatch`, its own timer);
 * - encode: every table's rows as binary COPY tuples (`encodeTable`);
 * - sample: the live feed's message of the batch (`sampleMessage`).
 *
 * The floor beside them, in the same rounds: gunzip and JSON.parse of the same bodies and nothing else —
 * what any server that takes this JSON has to do.
 *
 * Run: npm run build && node dist/bench/ingest-phases.js [--batches 3000] [--rounds 5]
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { batchMediaType } from '../src/protocol/batch.js';
import { encodeTable } from '../src/server/ingest/copy.js';
import { decodeBatch } from '../src/server/ingest/decode.js';
import { sampleMessage } from '../src/server/live/summary.js';
import { batchShape, makeBatch } from '../src/tools/bench-ingest.js';
import { arg } from './args.js';
import { machineLine } from './bench-store.js';

const batches = Number(arg('batches', '3000'));
const rounds = Number(arg('rounds', '5'));

const agentId = '00000000-0000-4000-8000-000000000001';
const serverId = 3;
const targetIds = new Map([['bench-pg', 7]]);
const limits = { maxDecompressedBytes: 16 << 20, maxAgeMs: 7 * 86_400_000 };
const shape = batchShape(1000);
const start = Date.now() - 60_000;
const bodies = Array.from({ length: batches }, (_, i) =>
  gzipSync(makeBatch(shape, agentId, i + 1, start + i * 10).body, { level: 1 }),
);

const fmt = (ms: number) => (ms / batches).toFixed(4);
console.log(`${batches} batches of ${makeBatch(shape, agentId, 1, start).values} values, ms per batch:`);
console.log('| round | decode | validate | encode | sample | sum | floor: gunzip + JSON.parse |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (let r = 1; r <= rounds; r++) {
  let decode = 0;
  let validate = 0;
  let encode = 0;
  let sample = 0;
  for (const body of bodies) {
    const d = decodeBatch({ contentType: batchMediaType, contentEncoding: 'gzip', body }, limits);
    if (!d.ok) throw new Error(d.error.message);
    decode += d.seconds.decode * 1000;
    validate += d.seconds.validate * 1000;
    const t0 = performance.now();
    for (const t of d.batch.tables) encodeTable(t, serverId, targetIds);
    const t1 = performance.now();
    sampleMessage(serverId, agentId, d.batch, targetIds);
    encode += t1 - t0;
    sample += performance.now() - t1;
  }
  const f0 = performance.now();
  for (const body of bodies) JSON.parse(gunzipSync(body).toString('utf8'));
  const floor = performance.now() - f0;
  const sum = decode + validate + encode + sample;
  console.log(
    `| ${r} | ${fmt(decode)} | ${fmt(validate)} | ${fmt(encode)} | ${fmt(sample)} | ${fmt(sum)} | ${fmt(floor)} |`,
  );
}
console.log(machineLine('no store'));
