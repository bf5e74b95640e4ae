import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { packageRoot } from '../version.js';
import {
  causeChains,
  causeEdges,
  causeGraph,
  causeNodes,
  correlate,
  explain,
  type IncidentMember,
  minConfidence,
  pearson,
  startedAt,
} from './causes.js';

const t0 = Date.parse('2026-12-02T12:00:00Z');
const min = 60_000;
const window = 10 * min;
let n = 0;

function f(check: string, over: Partial<IncidentMember> = {}): IncidentMember {
  n++;
  return {
    id: String(n),
    check,
    kind: check.startsWith('anomaly.') ? 'anomaly' : 'alert',
    object: '',
    targetId: 1,
    severity: 'warning',
    state: 'open',
    title: `${check} fired`,
    evidence: {},
    openedAt: t0,
    resolvedAt: null,
    ...over,
  };
}

function chainOf(members: IncidentMember[]) {
  const e = explain(members, causeGraph, window);
  return { e, checks: e.cause?.chain.map((s) => s.check) ?? [] };
}

test('the graph is consistent: every chain step is a node and every consecutive pair an edge', () => {
  const nodes = new Set(causeNodes.map((x) => x.id));
  for (const c of causeChains) {
    for (const s of c.steps) assert.ok(nodes.has(s), `${c.id}: unknown node ${s}`);
    for (let i = 0; i + 1 < c.steps.length; i++) {
      assert.ok(
        causeEdges.some((e) => e.cause === c.steps[i] && e.effect === c.steps[i + 1]),
        `${c.id}: no edge ${c.steps[i]} → ${c.steps[i + 1]}`,
      );
    }
  }
  for (const e of causeEdges) assert.ok(e.baseConfidence > 0 && e.baseConfidence <= 1, e.id);
});

test('docs/incidents.md lists every chain, edge and check id of the graph', () => {
  const doc = readFileSync(`${packageRoot}/docs/incidents.md`, 'utf8');
  for (const c of causeChains) assert.ok(doc.includes(`\`${c.id}\``), `chain ${c.id}`);
  for (const e of causeEdges) assert.ok(doc.includes(`\`${e.id}\``), `edge ${e.id}`);
  for (const node of causeNodes)
    for (const c of node.checks) assert.ok(doc.includes(c), `check ${c} of ${node.id}`);
});

test('missing index: slower statement → sequential scans of its table → cache hit drop, root first', () => {
  const stmt = f('pg.statement_regression', {
    object: 'shop/query:77',
    evidence: {
      queryid: '77',
      datname: 'shop',
      query: 'SELECT * FROM orders WHERE customer = $1',
      ratio: 12,
    },
  });
  const scans = f('pg.missing_index', {
    kind: 'recommendation',
    object: 'shop/public.orders',
    openedAt: t0 + min,
    evidence: { datname: 'shop', schemaname: 'public', relname: 'orders', statements: [{ queryid: '77' }] },
  });
  const cache = f('pg.cache_hit', {
    object: 'db:shop',
    openedAt: t0 + 2 * min,
    evidence: { datname: 'shop', hit_pct: 80 },
  });
  const { e, checks } = chainOf([cache, scans, stmt]);
  assert.deepEqual(checks, ['pg.statement_regression', 'pg.missing_index', 'pg.cache_hit']);
  assert.equal(e.cause?.chainId, 'missing_index');
  assert.equal(e.roles[stmt.id], 'cause');
  assert.equal(e.roles[scans.id], 'effect');
  assert.equal(e.roles[cache.id], 'symptom');
  assert.ok(e.cause!.confidence > 0.8, String(e.cause!.confidence));
  assert.match(e.cause!.explanation, /public\.orders/);
  assert.deepEqual(e.unexplained, []);
});

test('missing index: two of three steps present lowers the confidence', () => {
  const stmt = f('pg.statement_regression', {
    object: 'shop/query:77',
    evidence: { queryid: '77', datname: 'shop' },
  });
  const scans = f('pg.missing_index', {
    object: 'shop/public.orders',
    openedAt: t0 + min,
    evidence: { datname: 'shop', statements: [{ queryid: '77' }] },
  });
  const full = chainOf([stmt, scans, f('pg.cache_hit', { object: 'db:shop', openedAt: t0 + 2 * min })]).e
    .cause!.confidence;
  const part = chainOf([stmt, scans]).e.cause!.confidence;
  assert.ok(part < full, `${part} < ${full}`);
  assert.ok(part >= minConfidence);
});

test('missing index: named from its root before the hit ratio drops, over the CPU the scans load', () => {
  // The slower statement, the scans of its table and the CPU they load, all before any cache drop:
  // statement total → CPU holds too, but the statement → scans link names the deeper cause.
  const stmt = f('pg.statement_regression', {
    object: 'shop/query:77',
    evidence: { queryid: '77', datname: 'shop' },
  });
  const scans = f('pg.missing_index', {
    object: 'shop/public.orders',
    openedAt: t0 + min,
    evidence: { datname: 'shop', statements: [{ queryid: '77' }] },
  });
  const cpu = f('host.cpu', { targetId: null, openedAt: t0 + min });
  const { e } = chainOf([stmt, scans, cpu]);
  assert.equal(e.cause?.chainId, 'missing_index');
  // Without the root the same two later steps stay a weaker claim than the root and one step.
  const fromRoot = chainOf([stmt, scans]).e.cause!.confidence;
  const noRoot = chainOf([
    f('pg.missing_index', { object: 'shop/public.orders', evidence: { datname: 'shop' } }),
    f('pg.cache_hit', { object: 'db:shop', openedAt: t0 + min }),
  ]).e.cause?.confidence;
  assert.ok(noRoot === undefined || noRoot < fromRoot, `${noRoot} < ${fromRoot}`);
});

test('missing index: a statement that does not read the scanned table is no link', () => {
  const stmt = f('pg.statement_regression', {
    object: 'shop/query:5',
    evidence: { queryid: '5', datname: 'shop', query: 'SELECT 1 FROM invoices' },
  });
  const scans = f('pg.missing_index', {
    object: 'shop/public.orders',
    openedAt: t0 + min,
    evidence: { datname: 'shop', schemaname: 'public', relname: 'orders', statements: [{ queryid: '77' }] },
  });
  assert.equal(chainOf([stmt, scans]).e.cause, null);
});

test('blocking session: names the idle-in-transaction session and its statement', () => {
  const idle = f('pg.idle_in_transaction', {
    object: 'shop/app/billing',
    evidence: {
      datname: 'shop',
      usename: 'app',
      application_name: 'billing',
      state: 'idle in transaction',
      max_state_age_s: 900,
    },
  });
  const blocked = f('pg.blocking', {
    object: 'pid:4242',
    severity: 'critical',
    openedAt: t0 + 30_000,
    evidence: {
      blocking_pid: 4242,
      blocker: {
        usename: 'app',
        datname: 'shop',
        application_name: 'billing',
        state: 'idle in transaction',
        query: 'UPDATE accounts SET balance = balance - 10 WHERE id = 1',
      },
      blocked_count: 3,
      blocked: [{ pid: 7, datname: 'shop' }],
    },
  });
  const { e, checks } = chainOf([blocked, idle]);
  assert.deepEqual(checks, ['pg.idle_in_transaction', 'pg.blocking']);
  assert.match(e.title, /4242/);
  assert.match(e.cause!.explanation, /UPDATE accounts SET balance/);
  assert.match(e.cause!.explanation, /idle in transaction/);
  assert.match(e.cause!.action, /pg_terminate_backend\(4242\)/);
  assert.ok(e.cause!.confidence >= 0.85);
});

test('blocking session: a session of another database does not explain the blocked sessions', () => {
  const idle = f('pg.idle_in_transaction', { object: 'other/app/x', evidence: { datname: 'other' } });
  const blocked = f('pg.blocking', { object: 'pid:1', evidence: { blocked: [{ datname: 'shop' }] } });
  assert.equal(chainOf([idle, blocked]).e.cause, null);
});

test('replication lag after a WAL spike', () => {
  const { checks } = chainOf([
    f('anomaly.pg.wal_bytes_per_s'),
    f('pg.replication_lag', { object: 'standby:s1@10.0.0.2', openedAt: t0 + 2 * min }),
  ]);
  assert.deepEqual(checks, ['anomaly.pg.wal_bytes_per_s', 'pg.replication_lag']);
});

test('replication lag from the standby’s own slow disks (its replay view only)', () => {
  const disk = f('host.disk_latency', { object: 'sdb', targetId: null });
  assert.deepEqual(
    chainOf([disk, f('pg.replication_lag', { object: 'replay', openedAt: t0 + min })]).checks,
    ['host.disk_latency', 'pg.replication_lag'],
  );
  // On the primary, its own disks do not explain a standby's lag.
  assert.equal(
    chainOf([disk, f('pg.replication_lag', { object: 'standby:s1', openedAt: t0 + min })]).e.cause,
    null,
  );
});

test('disk filling from an inactive slot, not from an active one', () => {
  const disk = f('host.disk_space', {
    object: '/var/lib/postgresql',
    targetId: null,
    openedAt: t0 + 5 * min,
    evidence: { mountpoint: '/var/lib/postgresql' },
  });
  const inactive = f('pg.replication_slot', {
    object: 'slot:old',
    evidence: { slot_name: 'old', active: false, retained_bytes: 5e10 },
  });
  const { e, checks } = chainOf([inactive, disk]);
  assert.deepEqual(checks, ['pg.replication_slot', 'host.disk_space']);
  assert.match(e.cause!.action, /pg_drop_replication_slot\('old'\)/);
  const active = f('pg.replication_slot', {
    object: 'slot:live',
    evidence: { slot_name: 'live', active: true },
  });
  assert.equal(chainOf([active, disk]).e.cause, null);
});

test('disk filling from a table growing with dead rows', () => {
  const { checks } = chainOf([
    f('pg.dead_tuples', {
      object: 'shop/public.events',
      evidence: { schemaname: 'public', relname: 'events' },
    }),
    f('host.disk_fill', { object: '/data', targetId: null, openedAt: t0 + min }),
  ]);
  assert.deepEqual(checks, ['pg.dead_tuples', 'host.disk_fill']);
});

test('CPU saturation from statements whose total time grew', () => {
  const { e, checks } = chainOf([
    f('anomaly.pg.statement_total_ms_per_s', { object: '991' }),
    f('host.cpu', { targetId: null, openedAt: t0 + 2 * min }),
  ]);
  assert.deepEqual(checks, ['anomaly.pg.statement_total_ms_per_s', 'host.cpu']);
  assert.match(e.title, /991/);
});

test('connection errors in the log after max_connections is reached', () => {
  const conns = f('pg.connections', { evidence: { clients: 97, usable: 97 } });
  const refused = f('logs.pg_fatal_burst', {
    object: 'postgresql',
    targetId: null,
    openedAt: t0 + 2 * min,
    evidence: {
      top_messages: [{ message: 'sorry, too many clients already', count: 40, sqlstate: '53300' }],
    },
  });
  const { e, checks } = chainOf([conns, refused]);
  assert.deepEqual(checks, ['pg.connections', 'logs.pg_fatal_burst']);
  assert.match(e.cause!.explanation, /97 of 97/);
  // FATALs of another kind (authentication) are not refusals.
  const auth = f('logs.pg_fatal_burst', {
    targetId: null,
    openedAt: t0 + 2 * min,
    evidence: { top_messages: [{ message: 'password authentication failed', sqlstate: '28P01' }] },
  });
  assert.equal(chainOf([conns, auth]).e.cause, null);
});

test('checkpoint storm after a write burst', () => {
  const { checks } = chainOf([f('anomaly.pg.tps'), f('pg.checkpoints', { openedAt: t0 + 3 * min })]);
  assert.deepEqual(checks, ['anomaly.pg.tps', 'pg.checkpoints']);
});

test('log error spike with a metric anomaly at the same time, in either order', () => {
  const spike = f('logs.error_spike', { object: 'app', targetId: null });
  const anomaly = f('anomaly.host.memory_used_pct', { targetId: null, openedAt: t0 - 2 * min });
  const { e, checks } = chainOf([spike, anomaly]);
  assert.deepEqual(checks, ['anomaly.host.memory_used_pct', 'logs.error_spike']);
  assert.ok(e.cause!.confidence <= 0.5, 'co-occurrence is named with less confidence');
});

test('log error spike that opens before the metric anomaly is still named with it (↔ has no order)', () => {
  // The spike check judges 5 minutes of counts, an anomaly needs 5 unusual minutes: the errors often
  // open first.
  const spike = f('logs.error_spike', { object: 'app', targetId: null, openedAt: t0 - 5 * min });
  const anomaly = f('anomaly.pg.rollbacks_per_s', { openedAt: t0 });
  const { e, checks } = chainOf([spike, anomaly]);
  assert.equal(e.cause?.chainId, 'errors_with_anomaly');
  assert.deepEqual(checks, ['anomaly.pg.rollbacks_per_s', 'logs.error_spike']);
});

test('temporal order: an effect that opened before its cause lowers the confidence', () => {
  const idle = (at: number) =>
    f('pg.idle_in_transaction', { object: 'shop/a/b', openedAt: at, evidence: { datname: 'shop' } });
  const blocked = f('pg.blocking', {
    object: 'pid:1',
    openedAt: t0,
    evidence: { blocked: [{ datname: 'shop' }] },
  });
  const inOrder = chainOf([idle(t0 - 2 * min), blocked]).e.cause!;
  const reversed = chainOf([idle(t0 + 5 * min), blocked]).e.cause!;
  assert.equal(inOrder.links[0]!.temporal, 'in order');
  assert.equal(reversed.links[0]!.temporal, 'reversed');
  assert.ok(reversed.confidence < inOrder.confidence, `${reversed.confidence} < ${inOrder.confidence}`);
  // Opening together (within a minute, either way) is "with", not reversed.
  assert.equal(chainOf([idle(t0 + 30_000), blocked]).e.cause!.links[0]!.temporal, 'simultaneous');
});

test('temporal order: a cause and an effect further apart than the window are refused', () => {
  // (A cause still open when its effect starts is a standing cause: see below. This one had ended.)
  const wal = f('anomaly.pg.wal_bytes_per_s', { openedAt: t0, state: 'resolved', resolvedAt: t0 + 5 * min });
  assert.equal(
    chainOf([wal, f('pg.replication_lag', { object: 'standby:s', openedAt: t0 + window + min })]).e.cause,
    null,
  );
  assert.equal(
    chainOf([wal, f('pg.replication_lag', { object: 'standby:s', openedAt: t0 - window - min })]).e.cause,
    null,
  );
});

test('temporal order: a reversed partial chain below the minimum confidence is not named', () => {
  // Two of three steps (2/3), reversed (× 0.5): 0.85 × 2/3 × 0.5 ≈ 0.28 < minConfidence.
  const scans = f('pg.missing_index', {
    object: 'shop/public.orders',
    openedAt: t0 + 5 * min,
    evidence: { datname: 'shop' },
  });
  const cache = f('pg.cache_hit', { object: 'db:shop', openedAt: t0 });
  assert.equal(chainOf([scans, cache]).e.cause, null);
});

test('members no chain explains are correlated, never a cause', () => {
  const idle = f('pg.idle_in_transaction', { object: 'shop/a/b', evidence: { datname: 'shop' } });
  const blocked = f('pg.blocking', {
    object: 'pid:1',
    openedAt: t0 + min,
    evidence: { blocked: [{ datname: 'shop' }] },
  });
  const mem = f('host.memory', { targetId: null });
  const e = explain([idle, blocked, mem], causeGraph, window);
  assert.equal(e.roles[mem.id], 'correlated');
  assert.deepEqual(e.unexplained, [mem.id]);
  assert.ok(!e.cause!.chain.some((s) => s.findingId === mem.id));
  const none = explain([f('host.memory'), f('security.ssh_bruteforce')], causeGraph, window);
  assert.equal(none.cause, null);
  assert.match(none.title, /2 findings at once/);
});

test('pearson: perfect, inverse, none, and too few shared points', () => {
  const a = [0, 1, 2, 3, 4, 5].map((i) => [i * min, i] as [number, number]);
  const b = [0, 1, 2, 3, 4, 5].map((i) => [i * min, 10 + 3 * i] as [number, number]);
  const c = [0, 1, 2, 3, 4, 5].map((i) => [i * min, -i] as [number, number]);
  assert.equal(pearson(a, b)?.r, 1);
  assert.equal(pearson(a, c)?.r, -1);
  assert.equal(
    pearson(
      a,
      a.map(([t]) => [t, 7] as [number, number]),
    ),
    null,
    'a constant has no co-movement',
  );
  assert.equal(pearson(a.slice(0, 3), b), null);
  // Only shared timestamps count.
  const shifted = b.map(([t, v]) => [t + 30_000, v] as [number, number]);
  assert.equal(pearson(a, shifted), null);
});

test('correlated fallback: the strongest co-moving series of another member, bounded', () => {
  const ramp = (k: number, noise: number[]) => noise.map((x, i) => [i * min, k * i + x] as [number, number]);
  const pairs = correlate(
    ['m'],
    [
      { findingId: 'm', series: 'host_memory.used_bytes{}', points: ramp(1, [0, 0.1, 0, 0.2, 0, 0.1, 0]) },
      {
        findingId: 'x',
        series: 'pg_instance.backends{}@1',
        points: ramp(2, [0, 0.5, -0.5, 0.4, 0, -0.3, 0.2]),
      },
      { findingId: 'y', series: 'host_load.load1{}', points: ramp(0, [1, -1, 1, -1, 1, -1, 1]) },
    ],
  );
  assert.equal(pairs.pairs.length, 1);
  assert.equal(pairs.pairs[0]!.withFindingId, 'x');
  assert.ok(pairs.pairs[0]!.r > 0.9);
  assert.deepEqual(correlate(['m'], []).pairs, []);
});

test('a second finding of the same kind as a chain step takes that step’s role, not correlated', () => {
  const idle = f('pg.idle_in_transaction', { object: 'shop/a/b', evidence: { datname: 'shop' } });
  const b1 = f('pg.blocking', {
    object: 'pid:1',
    openedAt: t0 + min,
    evidence: { blocked: [{ datname: 'shop' }] },
  });
  const b2 = f('pg.blocking', {
    object: 'pid:2',
    openedAt: t0 + 2 * min,
    evidence: { blocked: [{ datname: 'shop' }] },
  });
  const elsewhere = f('pg.blocking', {
    object: 'pid:3',
    openedAt: t0 + 2 * min,
    evidence: { blocked: [{ datname: 'other' }] },
  });
  const e = explain([idle, b1, b2, elsewhere], causeGraph, window);
  assert.equal(e.roles[b1.id], 'symptom');
  assert.equal(e.roles[b2.id], 'symptom');
  assert.equal(e.roles[elsewhere.id], 'correlated', 'blocked in another database: not this chain');
});

test('explain does not depend on the order members are given in', () => {
  const members = [
    f('pg.cache_hit', { object: 'db:shop', openedAt: t0 + 2 * min }),
    f('pg.missing_index', {
      object: 'shop/public.orders',
      openedAt: t0 + min,
      evidence: { datname: 'shop', statements: [{ queryid: '9' }] },
    }),
    f('pg.slow_statement', { object: 'shop/query:9', evidence: { queryid: '9', datname: 'shop' } }),
    f('host.memory', { targetId: null }),
  ];
  const a = explain(members, causeGraph, window);
  const b = explain([...members].reverse(), causeGraph, window);
  assert.deepEqual(a, b);
});

test('an anomaly is placed in time by the start of its unusual run, not by when its finding opened', () => {
  // The statement's anomaly opens 5 minutes after its run began; the missing-index finding on the table
  // opened in between: the statement still came first.
  const slower = f('anomaly.pg.statement_mean_ms', {
    object: 'query:101',
    openedAt: t0 + 5 * min,
    evidence: { window: { from: new Date(t0).toISOString(), to: new Date(t0 + 5 * min).toISOString() } },
  });
  const scans = f('pg.missing_index', {
    object: 'shop/public.orders',
    openedAt: t0 + min,
    evidence: { datname: 'shop', schemaname: 'public', relname: 'orders', statements: [{ queryid: '101' }] },
  });
  const { e } = chainOf([slower, scans]);
  assert.equal(e.cause?.chainId, 'missing_index');
  assert.notEqual(e.cause!.links[0]!.temporal, 'reversed');
  assert.equal(startedAt(slower), t0);
  assert.equal(startedAt(scans), t0 + min);
  // A run start that is not before the opening, or not a time, is ignored.
  assert.equal(startedAt({ ...slower, evidence: { window: { from: 'x' } } }), t0 + 5 * min);
});

test('a cause still open when its effect starts holds however long before it started (a standing cause)', () => {
  const slot = f('pg.replication_slot', {
    object: 'slot:cdc',
    openedAt: t0 - 3 * 60 * min,
    evidence: { slot_name: 'cdc', active: false },
  });
  const fill = f('host.disk_fill', { object: '/data', evidence: { mountpoint: '/data' } });
  const { e } = chainOf([slot, fill]);
  assert.equal(e.cause?.chainId, 'disk_slot');
  // Effects do not stand: one that started hours before its cause is no link.
  const early = f('host.disk_fill', { object: '/data', openedAt: t0 - 3 * 60 * min });
  const lateSlot = { ...slot, openedAt: t0 };
  assert.equal(chainOf([early, lateSlot]).e.cause, null);
  // A cause that had resolved before the effect started does not stand.
  assert.equal(chainOf([{ ...slot, state: 'resolved', resolvedAt: t0 - 60 * min }, fill]).e.cause, null);
});
