/**
 * Pieces of the Prometheus text exposition format (0.0.4) for the agent's /metrics (the server's own
 * metrics are rendered by prom-client; bench/agent-exposition.ts measures why the agent keeps this).
 */

const helpSpecial = /[\\\n]/;
const labelSpecial = /[\\\n"]/;

export function escapeHelp(s: string): string {
  return helpSpecial.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s;
}

/** Label values rarely need escaping; testing first avoids three replaces per sample on every scrape. */
export function escapeLabelValue(s: string): string {
  return labelSpecial.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}
