import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitLine, replayHost } from './engine.js';
import type { ReplayHost } from './types.js';

const start = Date.UTC(2026, 0, 5);
const GiB = 1024 ** 3;

/** A small host: flat CPU, quiet logs, `days` days, evaluated from `evalFrom` minutes. */
function host(days: number, evalFrom: number, over: Partial<ReplayHost> = {}): ReplayHost {
  const minutes = days * 1440;
  const cpu = new Float64Array(minutes);
  for (let m = 0; m < minutes; m++) cpu[m] = 30 + ((m * 7919) % 5) - 2;
  return {
    serverId: 1,
    targetId: 11,
    hostname: 'db1',
    agentId: 'a1',
    start,
    minutes,
    evalFrom,
    series: [{ metric: 'host.cpu_busy_pct', object: '', values: cpu }],
    logs: [],
    ssh: [],
    silent: [],
    filesystems: [
      {
        mountpoint: '/',
        device: 'vda1',
        fstype: 'ext4',
        sizeBytes: 50 * GiB,
        used: new Float64Array(minutes).fill(10 * GiB),
      },
    ],
    snapshot: () => ({ instance: { max_connections: 100, backends: 10 }, families: {} }),
    settings: {},
    cores: 4,
    slos: [],
    ...over,
  };
}

test('fitLine: slope and R² as regr_slope and regr_r2 give them', () => {
  const fit = fitLine([0, 1, 2, 3], [1, 3, 5, 7]);
  assert.deepEqual(fit, { slope: 2, r2: 1 });
  assert.equal(fitLine([0, 1, 2], [4, 4, 4])!.r2, 1, 'flat is a perfect fit');
  assert.equal(fitLine([1, 1], [1, 2]), null);
});

test('a quiet host raises nothing; a CPU jump far beyond normal opens an anomaly after 2 minutes and resolves after', () => {
  const quiet = replayHost(host(9, 8 * 1440));
  assert.deepEqual(
    quiet.events.filter((e) => e.type === 'fired'),
    [],
  );
  const h = host(9, 8 * 1440);
  const onset = 8 * 1440 + 600;
  for (let m = onset; m < onset + 20; m++) h.series[0]!.values[m] = 95;
  const r = replayHost(h);
  const fired = r.events.filter((e) => e.type === 'fired');
  assert.equal(fired.length, 1, JSON.stringify(fired));
  assert.equal(fired[0]!.check, 'anomaly.host.cpu_busy_pct');
  // 2 minutes far beyond normal (the short run), read as soon as the second has ended.
  assert.equal((fired[0]!.t - (start + onset * 60_000)) / 60_000, 2);
  assert.ok(r.events.some((e) => e.type === 'resolved' && e.check === 'anomaly.host.cpu_busy_pct'));
});

test('a silent agent fires once its silence passes the limit, and resolves when it is back', () => {
  const onset = 1440 + 100;
  const r = replayHost(host(2, 1440, { silent: [[onset, onset + 10]] }));
  const silent = r.events.filter((e) => e.check === 'watchdog.agent_silent');
  assert.deepEqual(
    silent.map((e) => [e.type, (e.t - start) / 60_000 - onset]),
    [
      ['fired', 1],
      ['resolved', 11],
    ],
  );
});

test('SSH attempts from one address over the threshold fire with that address', () => {
  const onset = 1440 + 50;
  const ssh = Array.from({ length: 3 }, (_, i) => ({
    minute: onset + i,
    ip: '203.0.113.9',
    user: 'root',
    count: 10,
  }));
  const r = replayHost(host(2, 1440, { ssh }));
  const hit = r.events.find((e) => e.check === 'security.ssh_bruteforce' && e.type === 'fired');
  assert.equal(hit?.object, '203.0.113.9');
});
