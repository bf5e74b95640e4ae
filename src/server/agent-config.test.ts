import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configForDisplay, hidePassword } from './agent-config.js';

test('target_passwords_are_hidden_in_every_connection_form', () => {
  assert.equal(hidePassword('postgres://mon:s3cret@db:5432/app'), 'postgres://mon:***@db:5432/app');
  assert.equal(
    hidePassword('postgresql://mon@db/app?sslmode=require&password=s3cret'),
    'postgresql://mon@db/app?sslmode=require&password=***',
  );
  assert.equal(
    hidePassword("host=db user=mon password='a b c' dbname=x"),
    'host=db user=mon password=*** dbname=x',
  );
  assert.equal(hidePassword('postgres://mon@db/app'), 'postgres://mon@db/app');
});

test('a_config_for_display_keeps_everything_but_the_passwords', () => {
  const config = { collectIntervalMs: 5000, targets: [{ name: 'a', url: 'postgres://u:p@h/d' }] };
  assert.deepEqual(configForDisplay(config), {
    collectIntervalMs: 5000,
    targets: [{ name: 'a', url: 'postgres://u:***@h/d' }],
  });
  assert.equal(config.targets[0]!.url, 'postgres://u:p@h/d', 'the stored config is not changed');
});
