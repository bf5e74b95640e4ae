import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SecurityGroup } from '../../storage/queries/security.sql.js';
import { ThresholdBook } from '../thresholds.js';
import {
  fail2banBans,
  firewallBlocks,
  pgAuthFailures,
  type SecurityInput,
  securityEventKeys,
  sshBruteforce,
} from './security.js';
import type { Check, JobCheck } from './types.js';

const now = Date.parse('2026-12-02T12:00:00Z');

function group(over: Partial<SecurityGroup>): SecurityGroup {
  return {
    serverId: 1,
    type: 'ssh_bruteforce',
    ip: '203.0.113.45',
    username: '',
    count: 9,
    users: ['admin', 'root'],
    databases: [],
    jails: [],
    first: new Date(now - 120_000),
    last: new Date(now - 10_000),
    samples: ['Failed password for root from 203.0.113.45 port 1 ssh2'],
    ...over,
  };
}

/** The thresholds' defaults, as the engine hands them to evaluate. */
const defaults = (check: Check) => () => new ThresholdBook([check]).for(check.id, 1, null);

function run(check: JobCheck<SecurityInput>, groups: SecurityGroup[], servers = [1, 2]) {
  return check.evaluate({ servers, groups }, defaults(check), now);
}

describe('security.ssh_bruteforce', () => {
  test('more_than_five_failures_from_one_address_is_a_warning_with_ufw_deny', () => {
    const { observations, scopes } = run(sshBruteforce, [group({})]);
    assert.equal(observations.length, 1);
    const o = observations[0]!;
    assert.equal(o.object, '203.0.113.45');
    assert.equal(o.severity, 'warning');
    assert.equal(o.serverId, 1);
    assert.equal(o.targetId, null);
    assert.equal(o.evidence.count, 9);
    assert.deepEqual(o.evidence.users, ['admin', 'root']);
    assert.match(o.action, /^ufw deny from 203\.0\.113\.45; fail2ban-client status sshd/);
    // Every server looked at is a scope, so a finding on server 2 clears when its attack ends.
    assert.deepEqual(scopes, [
      { serverId: 1, targetId: null },
      { serverId: 2, targetId: null },
    ]);
  });

  test('five_failures_is_below_the_threshold_and_many_is_critical', () => {
    assert.equal(run(sshBruteforce, [group({ count: 5 })]).observations.length, 0);
    assert.equal(run(sshBruteforce, [group({ count: 101 })]).observations[0]?.severity, 'critical');
  });

  test('other_types_are_not_its_business', () => {
    assert.equal(run(sshBruteforce, [group({ type: 'firewall_block', count: 50 })]).observations.length, 0);
  });

  test('hostile_values_are_bounded_and_never_reach_a_shell_command', () => {
    const ip = `$(rm -rf /)${'x'.repeat(200)}`;
    const { observations } = run(sshBruteforce, [
      group({
        ip,
        users: Array.from({ length: 50 }, (_, i) => `u${i}${'y'.repeat(300)}`),
        samples: Array.from({ length: 20 }, () => 'z'.repeat(5000)),
      }),
    ]);
    const o = observations[0]!;
    assert.doesNotMatch(o.action, /rm -rf/);
    assert.ok((o.evidence.users as string[]).length <= 10);
    assert.ok((o.evidence.users as string[]).every((u) => u.length <= 101));
    assert.ok((o.evidence.sample_lines as string[]).length <= 5);
    assert.ok((o.evidence.sample_lines as string[]).every((s) => s.length <= 501));
    assert.ok(o.title.length < 200);
  });

  test('at_most_twenty_findings_per_server', () => {
    const groups = Array.from({ length: 30 }, (_, i) => group({ ip: `198.51.100.${i}`, count: 100 - i }));
    assert.equal(run(sshBruteforce, groups).observations.length, 20);
  });
});

describe('the other security checks', () => {
  test('every_fail2ban_ban_is_an_info_finding_per_address', () => {
    const { observations } = run(fail2banBans, [group({ type: 'fail2ban_ban', count: 1, jails: ['sshd'] })]);
    assert.equal(observations[0]?.severity, 'info');
    assert.equal(observations[0]?.object, '203.0.113.45');
    assert.match(observations[0]!.action, /^fail2ban-client status sshd/);
    assert.equal(run(fail2banBans, [group({ type: 'fail2ban_ban', count: 0 })]).observations.length, 0);
  });

  test('firewall_blocks_over_ten_in_five_minutes_are_reported', () => {
    assert.equal(run(firewallBlocks, [group({ type: 'firewall_block', count: 10 })]).observations.length, 0);
    const { observations } = run(firewallBlocks, [group({ type: 'firewall_block', count: 11 })]);
    assert.equal(observations[0]?.severity, 'info');
    assert.match(observations[0]!.action, /^ufw deny from 203\.0\.113\.45/);
  });

  test('postgres_auth_failures_are_keyed_by_user_and_address_with_the_role_query', () => {
    const { observations } = run(pgAuthFailures, [
      group({ type: 'pg_auth_failure', username: "o'brien", ip: '10.0.0.9', count: 6, databases: ['app'] }),
      group({ type: 'pg_auth_failure', username: 'app', ip: '10.0.0.9', count: 5 }),
    ]);
    assert.equal(observations.length, 1);
    const o = observations[0]!;
    assert.equal(o.object, "o'brien@10.0.0.9");
    assert.match(o.action, /WHERE rolname = 'o''brien'/);
    assert.match(o.action, /ufw deny from 10\.0\.0\.9/);
    assert.deepEqual(o.evidence.databases, ['app']);
  });

  test('an_unknown_address_gets_no_deny_command', () => {
    const { observations } = run(pgAuthFailures, [
      group({ type: 'pg_auth_failure', username: 'x', ip: '[local]' }),
    ]);
    assert.doesNotMatch(observations[0]!.action, /ufw/);
  });
});

describe('securityEventKeys', () => {
  test('stores_what_crosses_the_thresholds_where_the_check_is_on', () => {
    const input: SecurityInput = {
      servers: [1, 2],
      groups: [
        group({}),
        group({ serverId: 2 }),
        group({ ip: '192.0.2.1', count: 2 }),
        group({ type: 'fail2ban_ban', count: 1 }),
      ],
    };
    const keys = securityEventKeys(input, (check, serverId) => {
      if (serverId === 2) return null; // switched off there
      return defaults([sshBruteforce, fail2banBans].find((c) => c.id === check) ?? firewallBlocks)();
    });
    assert.deepEqual(keys, [
      { serverId: 1, type: 'ssh_bruteforce', ip: '203.0.113.45', username: '' },
      { serverId: 1, type: 'fail2ban_ban', ip: '203.0.113.45', username: '' },
    ]);
  });
});
