import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostFeed } from '../../../test/helpers/host-scope.js';
import type { FamilyRows, Row } from '../../agent/collectors/types.js';
import {
  hostCpu,
  hostDiskBusy,
  hostDiskLatency,
  hostDiskSpace,
  hostInodes,
  hostIowait,
  hostLoad,
  hostMemory,
  hostPressure,
  hostSwap,
} from './host.js';
import type { Draft, IngestCheck } from './types.js';

const t0 = Date.parse('2026-03-01T10:00:00Z');

function cpu(idle: unknown, iowait: unknown = 0, extra: Row = {}): Row {
  return {
    cpu: 'total',
    user_pct: 10,
    system_pct: 5,
    idle_pct: idle as number,
    iowait_pct: iowait as number,
    steal_pct: 0,
    ...extra,
  };
}

/** One batch of one sample every 10 s for `seconds` (inclusive), as an agent ships them. */
function stream(
  feed: HostFeed,
  check: IngestCheck,
  family: string,
  row: (i: number) => Row | Row[],
  seconds: number,
  from = t0,
): Draft[] {
  let last: Draft[] = [];
  for (let i = 0; i * 10 <= seconds; i++) {
    const rows = row(i);
    last = feed.feed([check], [{ family, ts: from + i * 10_000, rows: Array.isArray(rows) ? rows : [rows] }]);
  }
  return last;
}

function once(check: IngestCheck, rows: FamilyRows[]): Draft[] {
  return new HostFeed().feed([check], rows);
}

describe('host.cpu', () => {
  test('cpu_busy_over_80_percent_for_5_minutes_is_a_warning_and_not_one_sample_earlier', () => {
    const feed = new HostFeed();
    assert.deepEqual(
      stream(feed, hostCpu, 'host_cpu', () => cpu(12), 290),
      [],
    );
    const [f] = stream(feed, hostCpu, 'host_cpu', () => cpu(12), 0, t0 + 300_000);
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.evidence.busy_pct, 88);
    assert.equal(f?.evidence.held_s, 300);
    assert.match(f!.action, /--sort=-pcpu/);
  });

  test('cpu_busy_over_95_percent_for_5_minutes_is_critical', () => {
    const [f] = stream(new HostFeed(), hostCpu, 'host_cpu', () => cpu(2, 1), 300);
    assert.equal(f?.severity, 'critical');
  });

  test('a_short_spike_on_an_idle_box_says_nothing', () => {
    const feed = new HostFeed();
    // One 10 s sample at 99 % every minute: never 5 minutes in a row.
    const out = stream(feed, hostCpu, 'host_cpu', (i) => cpu(i % 6 === 0 ? 1 : 95), 900);
    assert.deepEqual(out, []);
  });

  test('a_gap_in_the_samples_starts_the_minutes_again', () => {
    const feed = new HostFeed();
    stream(feed, hostCpu, 'host_cpu', () => cpu(5), 200);
    // Two minutes nobody here saw (another server instance took those batches).
    assert.deepEqual(
      stream(feed, hostCpu, 'host_cpu', () => cpu(5), 150, t0 + 320_000),
      [],
    );
  });

  test('a_batch_holding_5_minutes_of_samples_fires_only_when_all_of_them_are_busy', () => {
    const rows = (dip: boolean): FamilyRows[] =>
      Array.from({ length: 31 }, (_, i) => ({
        family: 'host_cpu',
        ts: t0 + i * 10_000,
        rows: [cpu(dip && i === 20 ? 60 : 10)],
      }));
    assert.equal(once(hostCpu, rows(false))[0]?.severity, 'warning');
    assert.deepEqual(once(hostCpu, rows(true)), []);
  });

  test('below_thresholds_and_odd_values_say_nothing', () => {
    assert.deepEqual(
      stream(new HostFeed(), hostCpu, 'host_cpu', () => cpu(50), 600),
      [],
    );
    for (const odd of [null, 'abc', -5, 150, Number.NaN]) {
      assert.deepEqual(
        stream(new HostFeed(), hostCpu, 'host_cpu', () => cpu(odd), 600),
        [],
        String(odd),
      );
    }
    // Per-core rows are not the total.
    assert.deepEqual(
      stream(new HostFeed(), hostCpu, 'host_cpu', () => cpu(1, 0, { cpu: '0' }), 600),
      [],
    );
  });
});

describe('host.iowait', () => {
  test('iowait_over_30_percent_for_5_minutes_is_a_warning', () => {
    const [f] = stream(new HostFeed(), hostIowait, 'host_cpu', () => cpu(50, 40), 300);
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.evidence.iowait_pct, 40);
    assert.deepEqual(
      stream(new HostFeed(), hostIowait, 'host_cpu', () => cpu(50, 40), 200),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), hostIowait, 'host_cpu', () => cpu(80, 10), 600),
      [],
    );
  });
});

function memory(total: unknown, available: unknown, swapTotal: unknown = 0, swapUsed: unknown = 0) {
  return [
    {
      family: 'host_memory',
      ts: t0,
      rows: [
        {
          total_bytes: total,
          available_bytes: available,
          swap_total_bytes: swapTotal,
          swap_used_bytes: swapUsed,
        } as Row,
      ],
    },
  ];
}

describe('host.memory and host.swap', () => {
  const g = 2 ** 30;
  test('memory_used_by_memavailable_grades_at_85_and_95_percent', () => {
    assert.equal(once(hostMemory, memory(16 * g, 2 * g))[0]?.severity, 'warning');
    const [crit] = once(hostMemory, memory(16 * g, 0.5 * g));
    assert.equal(crit?.severity, 'critical');
    assert.equal(crit?.evidence.available_bytes, 0.5 * g);
    assert.deepEqual(once(hostMemory, memory(16 * g, 8 * g)), []);
  });

  test('odd_memory_rows_say_nothing', () => {
    for (const [total, avail] of [
      [0, 0],
      [null, 1],
      [10, 20],
      ['x', 1],
      [10, -1],
    ]) {
      assert.deepEqual(once(hostMemory, memory(total, avail)), [], `${total}/${avail}`);
    }
    // int8 values may arrive as decimal strings.
    assert.equal(once(hostMemory, memory(String(16 * g), String(g)))[0]?.severity, 'warning');
  });

  test('swap_grades_info_at_50_and_warning_at_80_percent_only_when_there_is_swap', () => {
    assert.equal(once(hostSwap, memory(16 * g, 8 * g, 4 * g, 2.4 * g))[0]?.severity, 'info');
    assert.equal(once(hostSwap, memory(16 * g, 8 * g, 4 * g, 3.6 * g))[0]?.severity, 'warning');
    assert.deepEqual(once(hostSwap, memory(16 * g, 8 * g, 4 * g, g)), []);
    assert.deepEqual(once(hostSwap, memory(16 * g, 8 * g, 0, 0)), []);
    assert.deepEqual(once(hostSwap, memory(16 * g, 8 * g, 4 * g, 9 * g)), [], 'more used than exists');
  });
});

describe('host.load', () => {
  const cores = (n: number): FamilyRows => ({
    family: 'host_cpu',
    ts: t0,
    rows: [cpu(90), ...Array.from({ length: n }, (_, i) => cpu(90, 0, { cpu: String(i) }))],
  });
  const load = (load5: unknown): FamilyRows => ({
    family: 'host_load',
    ts: t0,
    rows: [{ load1: 1, load5: load5 as number, load15: 1 }],
  });

  test('load_per_core_grades_at_1_5_and_3', () => {
    const [w] = once(hostLoad, [cores(4), load(8)]);
    assert.equal(w?.severity, 'warning');
    assert.equal(w?.evidence.load_per_core, 2);
    assert.equal(w?.evidence.cores, 4);
    assert.equal(once(hostLoad, [cores(4), load(13)])[0]?.severity, 'critical');
    assert.deepEqual(once(hostLoad, [cores(4), load(4)]), [], 'load 4 on 4 cores is fine');
    assert.deepEqual(once(hostLoad, [cores(64), load(40)]), [], 'the seed’s 4.0 would fire here');
  });

  test('cores_come_from_an_earlier_batch_and_without_them_load_says_nothing', () => {
    assert.deepEqual(once(hostLoad, [load(100)]), []);
    const feed = new HostFeed();
    feed.feed([hostLoad], [cores(2)]);
    assert.equal(feed.feed([hostLoad], [load(4)])[0]?.severity, 'warning');
    assert.deepEqual(feed.feed([hostLoad], [load('many')]), []);
  });
});

function fs(mount: string, size: unknown, used: unknown, avail: unknown, inodes: Row = {}): FamilyRows {
  return {
    family: 'host_filesystem',
    ts: t0,
    rows: [
      {
        mountpoint: mount,
        device: '/dev/sda1',
        fstype: 'ext4',
        size_bytes: size as number,
        used_bytes: used as number,
        avail_bytes: avail as number,
        inodes_total: 1000,
        inodes_used: 100,
        inodes_free: 900,
        ...inodes,
      },
    ],
  };
}

describe('host.disk_space and host.inodes', () => {
  test('used_percent_is_what_df_shows_with_the_root_reserve_counted_as_used', () => {
    // 100 GB, 5 GB reserved for root: used 82, avail 13 → df says 82 / 95 = 86 %.
    const [f] = once(hostDiskSpace, [fs('/var/lib/postgresql', 100, 82, 13)]);
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.object, '/var/lib/postgresql');
    assert.equal(f?.evidence.used_pct, 86.32);
    assert.match(
      f!.action,
      /^du -xh --max-depth=2 \/var\/lib\/postgresql 2>\/dev\/null \| sort -h \| tail -20/,
    );
    assert.match(f!.action, /pg_replication_slots/);
    assert.equal(once(hostDiskSpace, [fs('/', 100, 93, 2)])[0]?.severity, 'critical');
    assert.deepEqual(once(hostDiskSpace, [fs('/', 100, 50, 45)]), []);
  });

  test('odd_filesystem_rows_say_nothing_and_hostile_mount_names_are_cut_and_quoted', () => {
    for (const [size, used, avail] of [
      [0, 0, 0],
      [null, 1, 1],
      [100, 'lots', 1],
      [100, -1, 1],
    ]) {
      assert.deepEqual(once(hostDiskSpace, [fs('/x', size, used, avail)]), [], `${size}/${used}/${avail}`);
    }
    const [f] = once(hostDiskSpace, [fs(`/data/it's ${'x'.repeat(600)}`, 100, 99, 1)]);
    assert.ok(f!.object.length <= 201);
    assert.match(f!.action, /^du -xh --max-depth=2 '\/data\/it'\\''s x+…'/);
  });

  test('inodes_used_over_90_percent_is_a_warning_and_filesystems_without_an_inode_table_are_skipped', () => {
    const [f] = once(hostInodes, [fs('/srv', 100, 10, 90, { inodes_used: 920, inodes_free: 80 })]);
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.evidence.inodes_used_pct, 92);
    assert.equal(
      once(hostInodes, [fs('/srv', 100, 10, 90, { inodes_used: 990, inodes_free: 10 })])[0]?.severity,
      'critical',
    );
    assert.deepEqual(once(hostInodes, [fs('/srv', 100, 10, 90, { inodes_total: 0, inodes_used: 0 })]), []);
    assert.deepEqual(once(hostInodes, [fs('/srv', 100, 10, 90)]), []);
  });
});

function disk(readAwait: unknown, reads: unknown, util: unknown = 20): Row {
  return {
    device: 'nvme0n1',
    reads_per_s: reads as number,
    writes_per_s: 0,
    read_await_ms: readAwait as number,
    write_await_ms: null,
    util_pct: util as number,
  };
}

describe('host.disk_latency and host.disk_busy', () => {
  test('reads_slower_than_50_ms_under_load_for_5_minutes_are_a_warning', () => {
    const [f] = stream(new HostFeed(), hostDiskLatency, 'host_disk', () => disk(80, 200), 300);
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.object, 'nvme0n1');
    assert.match(f!.action, /iostat -x nvme0n1 5 3/);
  });

  test('an_idle_disks_slow_op_and_a_short_spike_say_nothing', () => {
    assert.deepEqual(
      stream(new HostFeed(), hostDiskLatency, 'host_disk', () => disk(400, 1), 600),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), hostDiskLatency, 'host_disk', (i) => disk(i % 10 === 0 ? 300 : 2, 200), 600),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), hostDiskLatency, 'host_disk', () => disk(null, 'x'), 600),
      [],
    );
  });

  test('a_disk_busy_over_90_percent_for_5_minutes_is_a_warning', () => {
    assert.equal(
      stream(new HostFeed(), hostDiskBusy, 'host_disk', () => disk(3, 500, 97), 300)[0]?.severity,
      'warning',
    );
    assert.deepEqual(
      stream(new HostFeed(), hostDiskBusy, 'host_disk', () => disk(3, 500, 97), 120),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), hostDiskBusy, 'host_disk', () => disk(3, 500, 400), 600),
      [],
    );
  });
});

describe('host.pressure', () => {
  const psi = (resource: string, someAvg60: unknown, fullAvg60: unknown = 0): Row => ({
    resource,
    some_avg10: 0,
    some_avg60: someAvg60 as number,
    some_avg300: 0,
    full_avg10: 0,
    full_avg60: fullAvg60 as number,
    full_avg300: 0,
  });

  test('memory_full_io_some_and_cpu_some_each_have_their_level', () => {
    const out = once(hostPressure, [
      { family: 'host_pressure', ts: t0, rows: [psi('memory', 20, 6), psi('io', 35), psi('cpu', 60)] },
    ]);
    assert.deepEqual(
      out.map((d) => [d.object, d.severity]),
      [
        ['memory', 'warning'],
        ['io', 'warning'],
        ['cpu', 'info'],
      ],
    );
  });

  test('low_or_odd_pressure_says_nothing', () => {
    assert.deepEqual(
      once(hostPressure, [
        { family: 'host_pressure', ts: t0, rows: [psi('memory', 40, 2), psi('io', 10), psi('cpu', 'x')] },
      ]),
      [],
    );
    assert.deepEqual(
      once(hostPressure, [{ family: 'host_pressure', ts: t0, rows: [psi('gpu', 99, 99), psi('io', 500)] }]),
      [],
    );
  });
});
