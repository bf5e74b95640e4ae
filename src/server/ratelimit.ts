/**
 * Token buckets per key (agent id, client address), in memory per server instance. Bounded: when more
 * than `maxKeys` keys are tracked, the oldest-touched half is forgotten (they start again full).
 */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    /** Tokens added per second. */
    private readonly ratePerSecond: number,
    /** Bucket size: how many requests may come at once. */
    private readonly burst: number,
    private readonly maxKeys = 200_000,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds to wait before a token is there. */
  take(key: string, now = Date.now()): number {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict();
      b = { tokens: this.burst, at: now };
    } else {
      this.buckets.delete(key); // re-insert: Map order becomes least-recently-used first
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSecond));
  }

  private evict(): void {
    let n = Math.floor(this.buckets.size / 2);
    for (const k of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}
