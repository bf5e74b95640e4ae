import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isConnectionFailure, PostgresTarget } from './session.js';

const settings = { statementTimeoutMs: 5000, lockTimeoutMs: 1000, connectTimeoutMs: 2500 };

describe('PostgreSQL target errors', () => {
  test('a_logged_error_keeps_its_stack_and_code_but_not_the_password', () => {
    const target = new PostgresTarget('postgres://mon:canary-pw-42@db.example:6432/app', settings);
    const original = Object.assign(new Error('lost postgres://mon:canary-pw-42@db.example/app'), {
      code: '57P01',
    });
    original.stack = `Error: lost canary-pw-42\n    at Socket.<anonymous> (client.js:1:1)`;
    const logged = target.scrubbedError(original);
    assert.equal(logged.message, 'lost postgres://mon:***@db.example/app');
    assert.match(logged.stack ?? '', /at Socket\.<anonymous>/);
    assert.ok(!(logged.stack ?? '').includes('canary-pw-42'));
    assert.equal((logged as Error & { code?: string }).code, '57P01');
  });

  test('connection_errors_name_host_port_and_database_never_the_password', () => {
    const target = new PostgresTarget('postgres://mon:canary-pw-42@db.example:6432/app', settings);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(
      target.connectErrorText(refused, 'app'),
      'no PostgreSQL listens at db.example:6432 (connection refused)',
    );
    const auth = Object.assign(new Error('password authentication failed for canary-pw-42'), {
      code: '28P01',
    });
    const text = target.connectErrorText(auth, 'app');
    assert.match(text, /PostgreSQL rejected user "mon" to database "app" at db\.example:6432/);
    assert.ok(!text.includes('canary-pw-42'));
    assert.equal(
      target.connectErrorText(new Error('timeout expired'), 'app'),
      'no answer from db.example:6432 within 2500 ms',
    );
  });

  test('a_lost_connection_is_told_apart_from_a_failed_query', () => {
    assert.ok(isConnectionFailure(Object.assign(new Error('terminating connection'), { code: '57P01' })));
    assert.ok(isConnectionFailure(new Error('Connection terminated unexpectedly')));
    assert.ok(!isConnectionFailure(Object.assign(new Error('permission denied'), { code: '42501' })));
    assert.ok(!isConnectionFailure(Object.assign(new Error('canceling statement'), { code: '57014' })));
  });
});
