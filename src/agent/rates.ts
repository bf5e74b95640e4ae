/**
 * Rates from cumulative counters, keeping the previous sample per key (one tracker per collector
 * instance; keys such as `eth0:rx_bytes`).
 *
 * Guarantees, so that no number is invented:
 * - the first sample of a key yields no rate (null), never 0;
 * - a counter that went backwards (reset by a reboot, a driver reload, a wrap) yields null for that
 *   interval, and the new value becomes the base for the next one;
 * - elapsed time comes from the caller's monotonic clock, so wall-clock jumps never distort a rate;
 *   a non-positive elapsed time yields null;
 * - counters of one source read together (an interface, a device) reset together: when any of them went
 *   backwards, none of them yields a delta for that interval (`deltas`), so a reset interface does not
 *   show "0 errors" beside "no rate" for its bytes;
 * - keys not observed between two `sweep()` calls are forgotten, so series that vanish (a container,
 *   a process) do not accumulate, and a key that comes back starts over with no rate.
 */

export interface CounterDelta {
  /** Increase of the counter since the previous sample (≥ 0). */
  delta: number;
  /** Monotonic seconds between the two samples (> 0). */
  seconds: number;
}

interface Previous {
  value: number;
  atMs: number;
  seen: boolean;
}

export class CounterTracker {
  readonly #previous = new Map<string, Previous>();

  /**
   * Records `value` for `key` at monotonic time `atMs` and returns the increase since the previous
   * sample, or null when there is none to compare with (first sample, reset, no elapsed time).
   * A missing value (null, NaN) is not recorded and yields null.
   */
  delta(key: string, value: number | null | undefined, atMs: number): CounterDelta | null {
    if (value === null || value === undefined || !Number.isFinite(value)) return null;
    const prev = this.#previous.get(key);
    this.#previous.set(key, { value, atMs, seen: true });
    if (prev === undefined) return null;
    const seconds = (atMs - prev.atMs) / 1000;
    if (!(seconds > 0)) return null;
    if (value < prev.value) return null;
    return { delta: value - prev.value, seconds };
  }

  /**
   * The deltas of several counters of one source (keys `${source}:${name}`). If any counter went
   * backwards, the source was reset and every delta is null for this interval. A counter whose value is
   * missing is null on its own.
   */
  deltas<K extends string>(
    source: string,
    values: Record<K, number | null | undefined>,
    atMs: number,
  ): Record<K, CounterDelta | null> {
    const out = {} as Record<K, CounterDelta | null>;
    let reset = false;
    for (const name of Object.keys(values) as K[]) {
      const key = `${source}:${name}`;
      const value = values[name];
      const prev = this.#previous.get(key);
      if (prev !== undefined && value !== null && value !== undefined && value < prev.value) reset = true;
      out[name] = this.delta(key, value, atMs);
    }
    if (reset) for (const name of Object.keys(out) as K[]) out[name] = null;
    return out;
  }

  /** Increase per second since the previous sample of `key`, or null (see `delta`). */
  rate(key: string, value: number | null | undefined, atMs: number): number | null {
    const d = this.delta(key, value, atMs);
    return d === null ? null : d.delta / d.seconds;
  }

  /** Forgets every key not observed since the previous sweep. Call once per collection. */
  sweep(): void {
    for (const [key, prev] of this.#previous) {
      if (!prev.seen) this.#previous.delete(key);
      else prev.seen = false;
    }
  }

  get size(): number {
    return this.#previous.size;
  }
}

/** Per-second rate of a delta, or null. */
export function perSecond(d: CounterDelta | null): number | null {
  return d === null ? null : d.delta / d.seconds;
}

/** Ratio of two deltas (e.g. ms spent reading / reads completed), null when undefined (0 operations). */
export function ratioOfDeltas(
  numerator: CounterDelta | null,
  denominator: CounterDelta | null,
): number | null {
  if (numerator === null || denominator === null || denominator.delta === 0) return null;
  return numerator.delta / denominator.delta;
}
