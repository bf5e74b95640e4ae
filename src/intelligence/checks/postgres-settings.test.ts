import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pgMemorySettings, settingSize } from './postgres-settings.js';
import { defaultThresholds, targetScope } from './scope-fixture.js';

const GB = 1024 ** 3;
const up = { pg_instance: [{ up: true, server_version_num: 180001 }] };
const t = defaultThresholds(pgMemorySettings);

describe('pg.memory_settings', () => {
  test('defaults_on_a_big_host_are_recommendations_with_the_size_to_set', () => {
    // A snapshot of changed settings without the three: they are at their built-in defaults.
    const scope = targetScope(up, {
      settings: { max_connections: '100', TimeZone: 'UTC' },
      host: { memoryTotalBytes: 32 * GB },
    });
    const out = pgMemorySettings.evaluate(scope, t);
    assert.deepEqual(
      out.map((d) => d.object),
      ['shared_buffers', 'effective_cache_size', 'maintenance_work_mem'],
    );
    assert.equal(
      out[0]?.action,
      `psql -c "ALTER SYSTEM SET shared_buffers = '8GB';" && sudo systemctl restart postgresql  # restart needed`,
    );
    assert.equal(out[0]?.evidence.assumed_default, true);
    assert.match(String(out[0]?.evidence.note), /built-in default/);
    assert.equal(
      out[1]?.action,
      `psql -c "ALTER SYSTEM SET effective_cache_size = '24GB';" -c "SELECT pg_reload_conf();"`,
    );
    assert.equal(out[2]?.evidence.proposed, '1GB');
    assert.ok(out.every((d) => d.severity === 'info'));
  });

  test('a_second_cluster_is_reached_by_its_port_and_restarted_by_its_own_unit', () => {
    // As Debian's pg_createcluster configures a second cluster of a host.
    const scope = targetScope(up, {
      settings: { max_connections: '100', port: '5433', cluster_name: '16/main' },
      host: { memoryTotalBytes: 32 * GB },
    });
    assert.equal(
      pgMemorySettings.evaluate(scope, t)[0]?.action,
      `psql -p 5433 -c "ALTER SYSTEM SET shared_buffers = '8GB';" && sudo systemctl restart postgresql@16-main  # restart needed`,
    );
    // What the monitored server sends is not trusted into the command: an odd port or name is left out.
    const odd = targetScope(up, {
      settings: { max_connections: '100', port: '5433; rm -rf /', cluster_name: '16/main $(x)' },
      host: { memoryTotalBytes: 32 * GB },
    });
    assert.equal(
      pgMemorySettings.evaluate(odd, t)[0]?.action,
      `psql -c "ALTER SYSTEM SET shared_buffers = '8GB';" && sudo systemctl restart postgresql  # restart needed`,
    );
  });

  test('pgvigils_own_embedded_store_keeps_its_small_memory_without_a_finding', () => {
    const store = targetScope(up, {
      settings: { max_connections: '200', port: '54329', cluster_name: 'pgvigil' },
      host: { memoryTotalBytes: 32 * GB },
    });
    assert.deepEqual(pgMemorySettings.evaluate(store, t), []);
  });

  test('tuned_settings_small_hosts_and_unknown_snapshots_give_nothing', () => {
    const tuned = targetScope(up, {
      settings: {
        shared_buffers: String((8 * GB) / 8192),
        effective_cache_size: String((24 * GB) / 8192),
        maintenance_work_mem: '1048576',
      },
      host: { memoryTotalBytes: 32 * GB },
    });
    assert.deepEqual(pgMemorySettings.evaluate(tuned, t), []);
    const small = targetScope(up, {
      settings: { max_connections: '100' },
      host: { memoryTotalBytes: 2 * GB },
    });
    assert.deepEqual(pgMemorySettings.evaluate(small, t), []);
    const noSnapshot = targetScope(up, { host: { memoryTotalBytes: 32 * GB } });
    assert.deepEqual(pgMemorySettings.evaluate(noSnapshot, t), []);
    const noHost = targetScope(up, { settings: { max_connections: '100' } });
    assert.deepEqual(pgMemorySettings.evaluate(noHost, t), []);
    const odd = targetScope(up, { settings: { shared_buffers: 'lots' }, host: { memoryTotalBytes: 8 * GB } });
    assert.deepEqual(pgMemorySettings.evaluate(odd, t), []);
  });

  test('sizes_round_down', () => {
    assert.equal(settingSize(8.7 * GB), '8GB');
    assert.equal(settingSize(0.05 * 16 * GB), '768MB');
    assert.equal(settingSize(10), '64MB');
  });
});
