import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JobRunState, WatchdogAgent } from '../../storage/queries/watchdog.sql.js';
import { ThresholdBook } from '../thresholds.js';
import type { Check } from './types.js';
import {
  agentSilent,
  clockSkew,
  collectorFailing,
  configRefused,
  grantMonitorAction,
  jobFailing,
} from './watchdog.js';

const now = Date.parse('2026-12-02T12:00:00Z');

/** The thresholds' defaults, as the engine hands them to evaluate. */
const defaults = (check: Check) => () => new ThresholdBook([check]).for(check.id, 1, null);

function agent(over: Partial<WatchdogAgent>): WatchdogAgent {
  return {
    serverId: 1,
    agentId: '00000000-0000-4000-8000-000000000001',
    hostname: 'db1',
    revoked: false,
    lastSeenAt: new Date(now - 5_000),
    pushIntervalMs: 10_000,
    clockSkewMs: 20,
    pendingBatches: 1,
    failing: [],
    configStatus: null,
    ...over,
  };
}

describe('watchdog.agent_silent', () => {
  const run = (agents: WatchdogAgent[]) => agentSilent.evaluate(agents, defaults(agentSilent as Check), now);

  test('silent_beyond_three_intervals_and_the_floor_is_critical', () => {
    const { observations, scopes } = run([agent({ lastSeenAt: new Date(now - 61_000) })]);
    assert.equal(observations[0]?.severity, 'critical');
    assert.equal(observations[0]?.object, 'agent:00000000-0000-4000-8000-000000000001');
    assert.equal(observations[0]?.evidence.silent_s, 61);
    assert.deepEqual(scopes, [{ serverId: 1, targetId: null }]);
  });

  test('the_agent_reported_interval_counts', () => {
    // 60 s interval: silent after 180 s, not after 100.
    assert.equal(
      run([agent({ pushIntervalMs: 60_000, lastSeenAt: new Date(now - 100_000) })]).observations.length,
      0,
    );
    assert.equal(
      run([agent({ pushIntervalMs: 60_000, lastSeenAt: new Date(now - 181_000) })]).observations.length,
      1,
    );
    // Nonsense intervals fall back to the default (10 s → the 60 s floor).
    assert.equal(
      run([agent({ pushIntervalMs: 'x', lastSeenAt: new Date(now - 61_000) })]).observations.length,
      1,
    );
    assert.equal(
      run([agent({ pushIntervalMs: -5, lastSeenAt: new Date(now - 59_000) })]).observations.length,
      0,
    );
  });

  test('a_revoked_agent_is_gone_not_silent_but_its_server_is_looked_at', () => {
    const { observations, scopes } = run([agent({ revoked: true, lastSeenAt: new Date(now - 86_400_000) })]);
    assert.equal(observations.length, 0);
    assert.deepEqual(scopes, [{ serverId: 1, targetId: null }]);
    assert.equal(run([agent({ lastSeenAt: null })]).observations.length, 0);
  });
});

describe('the other watchdog checks', () => {
  test('failing_collectors_and_pg_families_are_warnings_with_their_error', () => {
    const { observations, scopes } = collectorFailing.evaluate(
      {
        agents: [agent({ failing: [{ name: 'pressure', lastError: 'ENOENT', failures: 3 }, 'junk', null] })],
        pg: {
          targets: [{ serverId: 1, targetId: 7 }],
          failures: [
            {
              serverId: 1,
              targetId: 7,
              target: 'main',
              family: 'pg_stat_statements',
              datname: '',
              error: 'permission denied for view pg_stat_statements',
              ts: new Date(now),
            },
          ],
        },
      },
      () => ({}),
      now,
    );
    assert.deepEqual(
      observations.map((o) => [o.object, o.targetId, o.severity]),
      [
        ['collector:pressure', null, 'warning'],
        ['pg:pg_stat_statements', 7, 'warning'],
      ],
    );
    assert.equal(
      observations[1]!.action,
      'GRANT pg_monitor TO <the role the agent connects as>; -- as a superuser',
    );
    assert.deepEqual(scopes, [
      { serverId: 1, targetId: null },
      { serverId: 1, targetId: 7 },
    ]);
  });

  test('a_failing_custom_metric_points_at_its_definition_not_at_the_collector', () => {
    const failure = (error: string) => ({
      serverId: 1,
      targetId: 7,
      target: 'main',
      family: 'pg_custom:slot_lag',
      datname: '',
      error,
      ts: new Date(now),
    });
    const run = (error: string) =>
      collectorFailing.evaluate(
        { agents: [], pg: { targets: [{ serverId: 1, targetId: 7 }], failures: [failure(error)] } },
        () => ({}),
        now,
      ).observations[0]!;
    const syntax = run('syntax error at or near "FORM" (SQLSTATE 42601)');
    assert.equal(syntax.object, 'pg:pg_custom:slot_lag');
    assert.match(syntax.explanation, /syntax error at or near "FORM"/);
    assert.match(syntax.action, /custom metric slot_lag: correct its SQL .*BEGIN READ ONLY/);
    assert.match(run('permission denied for table secrets (SQLSTATE 42501)').action, /GRANT SELECT ON/);
  });

  test('a_refused_config_warns_and_an_applied_one_does_not', () => {
    const run = (cs: unknown) => configRefused.evaluate([agent({ configStatus: cs })], () => ({}), now);
    const o = run({ etag: 'v7', applied: false, error: 'bad', at: '2026-12-02T11:59:00Z' }).observations[0]!;
    assert.equal(o.severity, 'warning');
    assert.equal(o.evidence.error, 'bad');
    assert.equal(run({ etag: 'v8', applied: true }).observations.length, 0);
    assert.equal(run('applied').observations.length, 0);
  });

  test('clock_skew_over_thirty_seconds_warns_and_a_late_batch_is_not_skew', () => {
    const run = (a: Partial<WatchdogAgent>) =>
      clockSkew.evaluate([agent(a)], defaults(clockSkew as Check), now).observations;
    assert.equal(run({ clockSkewMs: 29_000 }).length, 0);
    assert.equal(run({ clockSkewMs: 31_000 })[0]?.title, 'Clock on db1 is 31 s ahead of the server');
    assert.equal(run({ clockSkewMs: -45_000, pendingBatches: 0 })[0]?.evidence.skew_ms, -45_000);
    // Behind by 45 s with a backlog in the spool: a late batch, not a clock.
    assert.equal(run({ clockSkewMs: -45_000, pendingBatches: 12 }).length, 0);
    assert.equal(run({ clockSkewMs: 'soon' }).length, 0);
  });

  test('a_failed_or_late_server_job_warns', () => {
    const job = (over: Partial<JobRunState>): JobRunState => ({
      job: 'rollups',
      lastStartedAt: new Date(now - 30_000),
      lastFinishedAt: new Date(now - 29_000),
      lastError: null,
      intervalMs: 60_000,
      runs: 10,
      failures: 0,
      ...over,
    });
    const run = (jobs: JobRunState[], serverId: number | null = 3) =>
      jobFailing.evaluate({ serverId, jobs }, defaults(jobFailing as Check), now);
    assert.equal(run([job({})]).observations.length, 0);
    const failed = run([job({ lastError: 'deadlock detected' })]).observations[0]!;
    assert.equal(failed.object, 'job:rollups');
    assert.equal(failed.serverId, 3);
    const late = run([job({ lastFinishedAt: new Date(now - 181_000) })]).observations[0]!;
    assert.equal(late.evidence.late_s, 181);
    assert.equal(run([job({ intervalMs: null, lastFinishedAt: new Date(0) })]).observations.length, 0);
    assert.deepEqual(run([job({ lastError: 'x' })], null), { observations: [], scopes: [] });
  });
});

test('the grant for a privilege refusal names the role the agent connects as, and only a plain name', () => {
  const refusal = 'permission denied for function pg_current_wal_lsn (SQLSTATE 42501)';
  assert.equal(
    grantMonitorAction(`${refusal}; the agent connects as role "mon"`),
    `psql -c 'GRANT pg_monitor TO "mon";' -- as a superuser`,
  );
  // While the refusal pauses the query, the agent adds when it asks again.
  assert.equal(
    grantMonitorAction(
      `${refusal}; the agent connects as role "mon"; not asked again before 2026-12-06T05:00:00.000Z`,
    ),
    `psql -c 'GRANT pg_monitor TO "mon";' -- as a superuser`,
  );
  assert.equal(
    grantMonitorAction(`${refusal}; the agent connects as role "svc.pgvigil-agent@corp"`),
    `psql -c 'GRANT pg_monitor TO "svc.pgvigil-agent@corp";' -- as a superuser`,
  );
  // A quote in a role name would end the shell word or the identifier early: never written in.
  for (const hostile of ['a"b', "it's", 'x\\y', 'a\nb', '$(id)', '']) {
    assert.equal(
      grantMonitorAction(`${refusal}; the agent connects as role "${hostile}"`),
      'GRANT pg_monitor TO <the role the agent connects as>; -- as a superuser',
      hostile,
    );
  }
});
