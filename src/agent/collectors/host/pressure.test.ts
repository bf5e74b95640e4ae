import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  collectFixturePair,
  fakeContext,
  fixture,
  metricOf,
  rowsOf,
} from '../../../../test/helpers/collect.js';
import { capturingLogger } from '../../../../test/helpers/pg-cluster.js';
import { NotApplicableError } from '../types.js';
import { createPressureCollector, irqPressureAbsent, parseIrqPressure, parsePressure } from './pressure.js';

test('parses_psi_with_and_without_a_cpu_full_line', () => {
  const k510 = parsePressure('some avg10=2.04 avg60=1.12 avg300=0.85 total=912345678\n');
  assert.equal(k510.some?.avg10, 2.04);
  assert.equal(k510.some?.totalUs, 912345678);
  assert.equal(k510.full, null, 'Linux before 5.13 has no "full" line for cpu');
  const k61 = parsePressure(
    'some avg10=4.80 avg60=3.20 avg300=2.10 total=50000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
  );
  assert.equal(k61.full?.totalUs, 0);
});

test('malformed_psi_is_a_clear_error', () => {
  assert.throws(
    () => parsePressure('some avg10=1 avg60=1 avg300=1\n', '/proc/pressure/io'),
    /\/proc\/pressure\/io line 1: some total: expected a non-negative integer, got undefined/,
  );
  assert.throws(() => parsePressure('partial avg10=1\n'), /expected a "some" or "full" line/);
  assert.throws(() => parsePressure(''), /no "some" line/);
});

test('missing_proc_pressure_is_not_applicable', async () => {
  const ctx = fakeContext({ procRoot: fixture('proc', '4.14.0') });
  await assert.rejects(createPressureCollector().collect(ctx), (err: unknown) => {
    assert.ok(err instanceof NotApplicableError);
    assert.match(err.message, /needs Linux 4\.20\+ built with CONFIG_PSI/);
    return true;
  });
});

test('unreadable_pressure_file_is_a_failure_not_not_applicable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-psi-'));
  try {
    mkdirSync(join(dir, 'pressure'));
    writeFileSync(join(dir, 'pressure', 'cpu'), 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n');
    // A directory where a file should be: reading it fails with EISDIR, which is not "no PSI".
    mkdirSync(join(dir, 'pressure', 'io'));
    symlinkSync(fixture('proc', '6.1.0', 'pressure', 'memory'), join(dir, 'pressure', 'memory'));
    await assert.rejects(
      createPressureCollector().collect(fakeContext({ procRoot: dir })),
      (err: unknown) => {
        assert.ok(!(err instanceof NotApplicableError));
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stall_share_comes_from_the_total_counter_over_elapsed_time', async () => {
  const { first, second, ctx } = await collectFixturePair(createPressureCollector());
  const before = rowsOf(first, 'host_pressure');
  assert.equal(before.find((r) => r.resource === 'cpu')!.some_stall_pct, null, 'first sample: no share yet');
  const rows = new Map(rowsOf(second, 'host_pressure').map((r) => [r.resource, r]));
  // cpu some: +500000 µs in 10 s = 5 %; io full: +50000 µs = 0.5 %.
  assert.equal(rows.get('cpu')!.some_stall_pct, 5);
  assert.equal(rows.get('cpu')!.some_avg10, 5);
  assert.equal(rows.get('io')!.full_stall_pct, 0.5);
  assert.equal(rows.get('memory')!.some_stall_pct, 0);
  assert.equal(metricOf(ctx.exposed, 'node_pressure_cpu_waiting_seconds_total').samples[0]!.value, 50.5);
  assert.equal(metricOf(ctx.exposed, 'node_pressure_io_stalled_seconds_total').samples[0]!.value, 10.05);
});

test('kernel_5_10_pressure_has_no_cpu_full_values', async () => {
  const rows = rowsOf(
    await createPressureCollector().collect(fakeContext({ procRoot: fixture('proc', '5.10.0') })),
    'host_pressure',
  );
  const cpu = rows.find((r) => r.resource === 'cpu')!;
  assert.equal(cpu.some_avg10, 2.04);
  assert.equal(cpu.full_avg10, null);
  assert.equal(cpu.full_stall_pct, null);
});

test('parses_irq_pressure_which_has_only_a_full_line', () => {
  // The format of Linux 6.1+ with CONFIG_IRQ_TIME_ACCOUNTING (kernel/sched/psi.c, psi_show for PSI_IRQ).
  const p = parseIrqPressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=12345\n');
  assert.equal(p.some, null, 'no task merely waits on an interrupt: no "some" line');
  assert.deepEqual(p.full, { avg10: 0, avg60: 0, avg300: 0, totalUs: 12345 });
  assert.throws(() => parseIrqPressure(''), /\/proc\/pressure\/irq: no "full" line/);
  assert.throws(
    () =>
      parseIrqPressure(
        'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n',
      ),
    /unexpected "some" line/,
  );
  assert.throws(() => parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n'), /no "some" line/);
});

test('irq_pressure_row_has_full_values_its_stall_share_and_node_exporters_counter', async () => {
  const { first, second, ctx } = await collectFixturePair(
    createPressureCollector(),
    fixture('proc', '6.6.0-irq'),
    fixture('proc', '6.6.0-irq-later'),
  );
  const irq0 = rowsOf(first, 'host_pressure').find((r) => r.resource === 'irq')!;
  assert.equal(irq0.full_avg10, 0);
  assert.equal(irq0.full_stall_pct, null, 'first sample: no share yet');
  const irq = rowsOf(second, 'host_pressure').find((r) => r.resource === 'irq')!;
  assert.equal(irq.some_avg10, null);
  assert.equal(irq.some_stall_pct, null);
  assert.equal(irq.full_avg10, 2.5);
  assert.equal(irq.full_avg60, 0.61);
  assert.equal(irq.full_avg300, 0.13);
  // total 12345 → 212345 µs over 10 s: 0.2 s stalled = 2 %.
  assert.equal(irq.full_stall_pct, 2);
  assert.equal(metricOf(ctx.exposed, 'node_pressure_irq_stalled_seconds_total').samples[0]!.value, 0.212345);
  assert.equal(
    ctx.exposed?.some((m) => m.name === 'node_pressure_irq_waiting_seconds_total'),
    false,
    'node_exporter has no irq "waiting" counter: there is no some line',
  );
});

test('irq_pressure_absent_from_this_hosts_proc_is_no_row_and_a_reason_said_once', async (t) => {
  if (!existsSync('/proc/pressure/cpu')) {
    t.skip('this kernel has no PSI at all');
    return;
  }
  const hasIrq = existsSync('/proc/pressure/irq');
  const { log, lines } = capturingLogger();
  const collector = createPressureCollector();
  const ctx = fakeContext({ procRoot: '/proc' });
  ctx.log = log;
  const first = rowsOf(await collector.collect(ctx), 'host_pressure');
  const second = rowsOf(await collector.collect(ctx), 'host_pressure');
  for (const rows of [first, second]) {
    assert.ok(rows.some((r) => r.resource === 'cpu'));
    assert.equal(
      rows.some((r) => r.resource === 'irq'),
      hasIrq,
    );
  }
  const said = lines.filter((l) => l.includes('no /proc/pressure/irq'));
  if (hasIrq) {
    assert.equal(said.length, 0);
    assert.equal(metricOf(ctx.exposed, 'node_pressure_irq_stalled_seconds_total').type, 'counter');
  } else {
    assert.equal(said.length, 1, 'the reason is logged once, not at every collection');
    assert.match(said[0]!, /CONFIG_IRQ_TIME_ACCOUNTING/);
    assert.equal(JSON.parse(said[0]!).msg, irqPressureAbsent);
    assert.equal(
      ctx.exposed?.some((m) => m.name === 'node_pressure_irq_stalled_seconds_total'),
      false,
    );
  }
});
