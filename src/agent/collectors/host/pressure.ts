/**
 * Pressure stall information (PSI) for cpu, io and memory, from /proc/pressure/* (Linux 4.20+), and for
 * interrupts (/proc/pressure/irq: Linux 6.1+ built with CONFIG_IRQ_TIME_ACCOUNTING, a `full` line only).
 *
 * Stored rows (host_pressure) hold the kernel's own 10/60/300 s averages and, from the cumulative stall
 * counters, the share of the last interval that tasks stalled (null for the first sample). A kernel
 * without PSI (no /proc/pressure, or booted with psi=0) is "not applicable", reported once. A kernel with
 * PSI but no irq file sends no irq row (its values are absent, never zero) and the collector logs once why.
 * Exposition: the stall counters in seconds under node_exporter's names.
 */
import { CounterTracker } from '../../rates.js';
import {
  errnoCode,
  fieldsOf,
  isMissing,
  linesOf,
  ParseError,
  parseCount,
  parseDecimal,
  readKernelFile,
} from '../proc.js';
import { type Collector, type ExposedMetric, NotApplicableError, type Row } from '../types.js';

export const pressureResources = ['cpu', 'io', 'memory', 'irq'] as const;
export type PressureResource = (typeof pressureResources)[number];

export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Cumulative stall time, microseconds. */
  totalUs: number;
}

export interface Pressure {
  /** Null for irq: no task merely waits on an interrupt, so the kernel reports only `full`. */
  some: PressureLine | null;
  /** Absent for cpu before Linux 5.13. */
  full: PressureLine | null;
}

/** Why a kernel that has PSI has no /proc/pressure/irq. */
export const irqPressureAbsent =
  'no /proc/pressure/irq: IRQ pressure needs Linux 6.1+ built with CONFIG_IRQ_TIME_ACCOUNTING; host_pressure has no irq row (absent, not zero)';

/** Parses /proc/pressure/irq: a `full` line only (a `some` line there is a format we do not know). */
export function parseIrqPressure(text: string, file = '/proc/pressure/irq'): Pressure {
  const p = parsePressureLines(text, file);
  if (p.some) throw new ParseError(file, 'unexpected "some" line: irq pressure has only "full"');
  if (!p.full) throw new ParseError(file, 'no "full" line');
  return p;
}

/** Parses one /proc/pressure/<resource> file of cpu, io or memory: a `some` line, and `full` where the kernel has it. */
export function parsePressure(text: string, file = '/proc/pressure'): Pressure {
  const p = parsePressureLines(text, file);
  if (!p.some) throw new ParseError(file, 'no "some" line');
  return p;
}

function parsePressureLines(text: string, file: string): Pressure {
  let some: PressureLine | undefined;
  let full: PressureLine | null = null;
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    const kind = f[0];
    if (kind !== 'some' && kind !== 'full')
      throw new ParseError(file, 'expected a "some" or "full" line', line);
    const kv = new Map<string, string>();
    for (const token of f.slice(1)) {
      const eq = token.indexOf('=');
      if (eq <= 0) throw new ParseError(file, `expected key=value, got ${JSON.stringify(token)}`, line);
      kv.set(token.slice(0, eq), token.slice(eq + 1));
    }
    const parsed: PressureLine = {
      avg10: parseDecimal(kv.get('avg10'), file, `${kind} avg10`, line),
      avg60: parseDecimal(kv.get('avg60'), file, `${kind} avg60`, line),
      avg300: parseDecimal(kv.get('avg300'), file, `${kind} avg300`, line),
      totalUs: parseCount(kv.get('total'), file, `${kind} total`, line),
    };
    if (kind === 'some') some = parsed;
    else full = parsed;
  }
  return { some: some ?? null, full };
}

export function pressureRow(
  resource: PressureResource,
  p: Pressure,
  counters: CounterTracker,
  atMs: number,
): Row {
  const stallPct = (kind: 'some' | 'full', totalUs: number | undefined): number | null => {
    const d = counters.delta(`${resource}:${kind}`, totalUs, atMs);
    return d === null ? null : (d.delta * 100) / (1e6 * d.seconds);
  };
  return {
    resource,
    some_avg10: p.some?.avg10 ?? null,
    some_avg60: p.some?.avg60 ?? null,
    some_avg300: p.some?.avg300 ?? null,
    some_stall_pct: stallPct('some', p.some?.totalUs),
    full_avg10: p.full?.avg10 ?? null,
    full_avg60: p.full?.avg60 ?? null,
    full_avg300: p.full?.avg300 ?? null,
    full_stall_pct: stallPct('full', p.full?.totalUs),
  };
}

export function pressureExposition(all: Partial<Record<PressureResource, Pressure>>): ExposedMetric[] {
  const out: ExposedMetric[] = [];
  const add = (name: string, help: string, us: number | undefined): void => {
    if (us !== undefined) out.push({ name, help, type: 'counter', samples: [{ value: us / 1e6 }] });
  };
  add(
    'node_pressure_cpu_waiting_seconds_total',
    'Total time in seconds that processes have waited for CPU time',
    all.cpu?.some?.totalUs,
  );
  add(
    'node_pressure_io_waiting_seconds_total',
    'Total time in seconds that processes have waited due to IO congestion',
    all.io?.some?.totalUs,
  );
  add(
    'node_pressure_io_stalled_seconds_total',
    'Total time in seconds no process could make progress due to IO congestion',
    all.io?.full?.totalUs,
  );
  add(
    'node_pressure_memory_waiting_seconds_total',
    'Total time in seconds that processes have waited for memory',
    all.memory?.some?.totalUs,
  );
  add(
    'node_pressure_memory_stalled_seconds_total',
    'Total time in seconds no process could make progress due to memory congestion',
    all.memory?.full?.totalUs,
  );
  add(
    'node_pressure_irq_stalled_seconds_total',
    'Total time in seconds no process could make progress due to IRQ congestion',
    all.irq?.full?.totalUs,
  );
  return out;
}

export function createPressureCollector(): Collector {
  const counters = new CounterTracker();
  /** The irq file's absence is said once (and again after it was seen), not at every run. */
  let irqAbsenceSaid = false;
  return {
    name: 'pressure',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      const texts = pressureResources.map((r) => {
        try {
          return { r, text: readKernelFile(ctx.procRoot, `pressure/${r}`), err: undefined };
        } catch (err) {
          return { r, text: undefined, err };
        }
      });
      const atMs = ctx.monotonic();
      const ts = ctx.now();
      // A missing file (or psi=0, which leaves the files in place but failing with EOPNOTSUPP) means
      // "no PSI here"; any other error (permission denied) is a failure worth reporting.
      const absent = (err: unknown): boolean => isMissing(err) || errnoCode(err) === 'EOPNOTSUPP';
      const failed = texts.find((t) => t.err !== undefined && !absent(t.err));
      if (failed) throw failed.err;
      const found = texts.filter((t) => t.text !== undefined);
      if (found.length === 0) {
        throw new NotApplicableError(
          'no pressure stall information: needs Linux 4.20+ built with CONFIG_PSI and not booted with psi=0',
        );
      }
      if (found.some((t) => t.r === 'irq')) irqAbsenceSaid = false;
      else if (!irqAbsenceSaid) {
        ctx.log.info({ collector: 'pressure', resource: 'irq' }, irqPressureAbsent);
        irqAbsenceSaid = true;
      }
      const parsed: Partial<Record<PressureResource, Pressure>> = {};
      const rows: Row[] = [];
      for (const { r, text } of found) {
        const file = `/proc/pressure/${r}`;
        const p = r === 'irq' ? parseIrqPressure(text!, file) : parsePressure(text!, file);
        parsed[r] = p;
        rows.push(pressureRow(r, p, counters, atMs));
      }
      counters.sweep();
      ctx.expose?.(pressureExposition(parsed));
      return [{ family: 'host_pressure', ts, rows }];
    },
  };
}
