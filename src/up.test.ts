import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatUpSummary } from './up.js';

const base = {
  dashboard: 'http://127.0.0.1:8470/',
  agent: {
    agentId: 'a1',
    stateDir: '/d/agent',
    watching: {
      host: 'db1',
      postgres: [
        { name: '127.0.0.1:5433', url: 'postgres://pgvigil:********@127.0.0.1:5433/pgvigil', isStore: true },
      ],
      processes: ['postgres'],
      logs: ['/var/log/syslog'],
    },
  },
  store: { kind: 'embedded' as const, dataDir: '/d' },
  pid: 42,
};

test('the_up_summary_names_dashboard_first_sign_in_what_is_watched_data_and_how_to_stop', () => {
  const text = formatUpSummary({ ...base, firstAdmin: { name: 'admin', password: 'pw-1' } });
  assert.match(text, /dashboard +http:\/\/127\.0\.0\.1:8470\//);
  assert.match(text, /sign in +as "admin" with password pw-1 /);
  assert.match(text, /local agent a1 is watching host db1/);
  assert.match(text, /postgres +127\.0\.0\.1:5433 +\(the store itself\)/);
  assert.match(text, /processes +postgres/);
  assert.match(text, /logs +\/var\/log\/syslog/);
  assert.match(text, /data +\/d +\(embedded PostgreSQL; agent state in \/d\/agent\)/);
  assert.match(text, /stop +Ctrl-C \(or kill -TERM 42\)/);
});

test('without_a_new_admin_the_summary_shows_no_password', () => {
  assert.doesNotMatch(formatUpSummary(base), /password/);
});
