/**
 * `pgvigil replay` and `pgvigil record`, as the real command-line process: a synthetic two-hour stream
 * of one host's CPU and memory every 10 s, CPU saturated for 10 minutes in the middle, replayed on a
 * fresh database — the finding opens and resolves at the stream's times (not the wall clock's); a bad
 * line is reported by number and the rest replays; recording the store and replaying the recording
 * gives the same findings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReplayEvent } from '../src/tools/replay.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const tenS = 10_000;
const minute = 60_000;
// Two hours ending a few minutes ago, on whole minutes: inside raw retention, so nothing is moved.
const end = Math.floor((Date.now() - 10 * minute) / minute) * minute;
const start = end - 120 * minute;
const burstFrom = start + 60 * minute;
const burstTo = burstFrom + 10 * minute;
// PostgreSQL does not answer for 3 minutes, half an hour in.
const downFrom = start + 30 * minute;
const downTo = downFrom + 3 * minute;
const instanceColumns = [
  'ts',
  'target',
  'up',
  'server_version_num',
  'server_version',
  'in_recovery',
  'start_time',
  'max_connections',
  'backends',
  'collect_ms',
  'error',
];
function instanceRow(ts: number, offsetMs: number): unknown[] {
  const t = ts + offsetMs;
  if (ts >= downFrom && ts < downTo)
    return [t, 'main', false, null, null, null, null, null, null, 5, 'connection refused'];
  return [
    t,
    'main',
    true,
    180001,
    '18.1',
    false,
    new Date(start + offsetMs - 86_400_000).toISOString(),
    100,
    30,
    5,
    null,
  ];
}

function cpuRow(ts: number, busy: number): unknown[] {
  // ts, cpu, user, nice, system, idle, iowait, irq, softirq, steal
  return [ts, 'total', busy * 0.8, 0, busy * 0.2, 100 - busy, 0, 0, 0, 0];
}

/** One line per 10-s sample; the batch arrives when its slot is over (as `record` writes it). */
function syntheticStream(offsetMs = 0): string[] {
  const out: string[] = [];
  for (let ts = start; ts < end; ts += tenS) {
    const busy = ts >= burstFrom && ts < burstTo ? 98 : 20 + 5 * Math.sin(ts / 600_000);
    out.push(
      JSON.stringify({
        time: new Date(ts + tenS + offsetMs).toISOString(),
        server: 'synth-1',
        v: 1,
        families: {
          host_cpu: {
            columns: [
              'ts',
              'cpu',
              'user_pct',
              'nice_pct',
              'system_pct',
              'idle_pct',
              'iowait_pct',
              'irq_pct',
              'softirq_pct',
              'steal_pct',
            ],
            rows: [cpuRow(ts + offsetMs, busy)],
          },
          pg_instance: { columns: instanceColumns, rows: [instanceRow(ts, offsetMs)] },
          host_memory: {
            columns: ['ts', 'total_bytes', 'available_bytes', 'used_bytes', 'free_bytes'],
            rows: [[ts + offsetMs, 8e9, 5e9, 3e9, 2e9]],
          },
        },
      }),
    );
  }
  return out;
}

function events(stdout: string): ReplayEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ReplayEvent);
}

const cpuEvents = (evs: ReplayEvent[]) =>
  evs.filter((e) => e.kind === 'finding' && e.check === 'host.cpu').map((e) => [e.event, e.time, e.severity]);
/** What a replay said, ids aside (they depend on the store): sorted, so the comparison is of sets. */
const said = (evs: ReplayEvent[]) =>
  evs.map((e) => [e.kind, e.check ?? e.cause ?? '', e.event, e.time, e.severity].join(' ')).sort();

describe('pgvigil replay', () => {
  let dir: string;
  const dbs: TestDatabase[] = [];
  const fresh = async () => {
    const db = await createTestDatabase('replay');
    dbs.push(db);
    return db;
  };
  let first: { db: TestDatabase; evs: ReplayEvent[] } | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-replay-test-'));
  });
  after(async () => {
    for (const db of dbs) await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a_cpu_burst_and_an_outage_open_and_resolve_findings_an_slo_change_and_an_incident_at_the_streams_times', async () => {
    const lines = syntheticStream();
    // Line 5 is broken: reported by its number, skipped, and the stream goes on.
    lines.splice(4, 0, '{"time": "2026-01-01T00:00:00Z", not json');
    // Line 7 is JSON but ingest refuses it (no such family): its message, and the stream goes on.
    const seventh = JSON.parse(lines[6]!) as { families: Record<string, unknown> };
    seventh.families = { host_teapot: { columns: ['ts'], rows: [] } };
    lines.splice(6, 0, JSON.stringify(seventh));
    const file = join(dir, 'synthetic.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const db = await fresh();
    const r = await runCli(['replay', file, '--json', '--database-url', db.url], {}, 300_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /line 5: not JSON/);
    assert.match(r.stderr, /line 7: refused by ingest \(400 [A-Z_]+: .*host_teapot/);
    assert.match(r.stderr, /replayed 720 batches of 722 lines \(2 skipped\)/);
    const evs = events(r.stdout);
    const opened = evs.find((e) => e.check === 'host.cpu' && e.event === 'opened');
    const resolved = evs.find((e) => e.check === 'host.cpu' && e.event === 'resolved');
    assert.ok(opened, `no host.cpu finding opened; events: ${JSON.stringify(evs)}`);
    assert.ok(resolved, `host.cpu never resolved; events: ${JSON.stringify(evs)}`);
    const openedAt = Date.parse(opened.time);
    const resolvedAt = Date.parse(resolved.time);
    // Simulated time: within the burst (after the check's holding time), never the wall clock.
    assert.ok(openedAt > burstFrom && openedAt <= burstTo, `opened at ${opened.time}`);
    assert.ok(resolvedAt > burstTo && resolvedAt <= burstTo + 3 * minute, `resolved at ${resolved.time}`);
    assert.ok(Date.now() - resolvedAt > 10 * minute);
    assert.equal(opened.target, 'synth-1');
    assert.match(opened.explanation, /busy/);
    for (const e of evs) {
      assert.deepEqual(Object.keys(e).slice(0, 8), [
        'time',
        'kind',
        'key',
        'event',
        'severity',
        'target',
        'cause',
        'explanation',
      ]);
    }
    // The outage: PostgreSQL down opens and resolves at the stream's times, the availability SLO's
    // budget is spent (a changed SLO line), its burn-rate alert fires, and an incident groups the two.
    const down = evs.filter((e) => e.check === 'pg.down');
    assert.deepEqual(
      down.map((e) => e.event),
      ['opened', 'resolved'],
      JSON.stringify(evs),
    );
    assert.ok(Date.parse(down[0]!.time) >= downFrom && Date.parse(down[0]!.time) <= downTo, down[0]!.time);
    assert.equal(down[0]!.target, 'synth-1/main');
    const slo = evs.filter((e) => e.kind === 'slo');
    assert.ok(
      slo.some(
        (e) => e.severity === 'critical' && /availability/.test(e.target) && /exhausted/.test(e.explanation),
      ),
      JSON.stringify(slo),
    );
    assert.ok(evs.some((e) => e.check === 'slo.burn_rate' && e.event === 'opened'));
    const incident = evs.find((e) => e.kind === 'incident' && e.event === 'opened');
    assert.ok(incident && Date.parse(incident.time) >= downFrom, JSON.stringify(evs));
    // Nothing else fired on a host that is quiet apart from the burst and the outage.
    assert.deepEqual(
      [
        ...new Set(
          evs
            .filter(
              (e) => e.kind === 'finding' && !['host.cpu', 'pg.down', 'slo.burn_rate'].includes(e.check!),
            )
            .map((e) => e.check),
        ),
      ],
      [],
    );
    first = { db, evs };
  });

  test('an_old_stream_is_moved_into_retention_and_printed_at_its_own_times_one_readable_line_each', async () => {
    // 30 days old: past raw retention, so the replay moves it, and prints the file's times back.
    const offset = -30 * 86_400_000;
    const file = join(dir, 'old.ndjson');
    writeFileSync(file, `${syntheticStream(offset).slice(355, 420).join('\n')}\n`);
    const r = await runCli(['replay', file, '--database-url', (await fresh()).url], {}, 120_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the stream is moved by \d+ min/);
    const m = /^(\S+Z) finding opened (warning|critical) host\.cpu on synth-1: CPU \d+ % busy/m.exec(
      r.stdout,
    );
    assert.ok(m, r.stdout);
    const at = Date.parse(m[1]!);
    assert.ok(at > burstFrom + offset && at <= burstTo + offset, `opened at ${m[1]}`);
  });

  test('a_store_that_is_not_fresh_is_refused', async () => {
    assert.ok(first, 'needs the first replay');
    const file = join(dir, 'synthetic.ndjson');
    const r = await runCli(['replay', file, '--json', '--database-url', first.db.url], {}, 60_000);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fresh, empty database/);
  });

  test('recording_the_store_and_replaying_the_recording_gives_the_same_findings', async () => {
    assert.ok(first, 'needs the first replay');
    const out = join(dir, 'recorded.ndjson');
    const rec = await runCli(
      [
        'record',
        '--database-url',
        first.db.url,
        '--server',
        'synth-1',
        '--from',
        new Date(start).toISOString(),
        '--to',
        new Date(end).toISOString(),
        '--out',
        out,
      ],
      {},
      120_000,
    );
    assert.equal(rec.code, 0, rec.stderr);
    assert.match(rec.stderr, /recorded 720 batches, 2160 rows of /);
    for (const f of ['host_cpu', 'host_memory', 'pg_instance']) assert.match(rec.stderr, new RegExp(f));
    const recorded = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(recorded.length, 720);
    const again = await runCli(['replay', out, '--json', '--database-url', (await fresh()).url], {}, 300_000);
    assert.equal(again.code, 0, again.stderr);
    const evs = events(again.stdout);
    assert.ok(cpuEvents(evs).length >= 2);
    assert.deepEqual(cpuEvents(evs), cpuEvents(first.evs));
    assert.deepEqual(said(evs), said(first.evs));
  });
});
