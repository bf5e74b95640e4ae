/**
 * Token buckets per key (agent id, client address, user name), in memory per server instance. Bounded:
 * when more than `maxKeys` keys are tracked, the oldest-touched half is forgotten (they start again full).
 *
 * Why not @fastify/rate-limit: its stores count requests in fixed windows (`max` per `timeWindow`), which
 * cannot say "a burst of 100, then 20/s": at a window's edge it lets twice the burst through, and its
 * Retry-After is the rest of the window (up to 100 s for the sign-in limit, where a bucket says 10 s).
 * Our limits are also taken inside handlers on keys only they know — the agent id after the credential
 * check, the address and the user name together in one refusal for sign-in — and a refused push is
 * counted as a rejected batch. The plugin's hooks (one key generator each, each answering its own 429)
 * would need wrapping to do that, for no gain over these thirty lines.
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
