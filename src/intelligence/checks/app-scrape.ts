/**
 * Application scrape targets that keep failing (server-side scrapes, src/server/scrape): the application's
 * metrics stop arriving, so its request rate, errors and latency go blind — and an SSRF refusal, a cap or a
 * parse error never fixes itself. A job check over the targets' recorded outcomes: a target whose scrapes
 * have failed for `intervals` of its intervals in a row (since its last success, or since it was added)
 * is a warning on its server entry, with the error naming the cause. Pure evaluate over the rows `load`
 * reads; `now` is the only clock.
 */
import { listScrapeTargets, type ScrapeTargetRow } from '../../storage/queries/scrape-targets.sql.js';
import type { JobCheck, JobObservation, Scope } from './types.js';
import { cut, humanSeconds, isoTime } from './util.js';

export interface ScrapeTargetState {
  serverId: number;
  name: string;
  url: string;
  enabled: boolean;
  intervalMs: number;
  lastScrapeAt: number | null;
  lastOkAt: number | null;
  createdAt: number;
  lastError: string | null;
}

export function scrapeTargetState(r: ScrapeTargetRow): ScrapeTargetState {
  return {
    serverId: r.server_id,
    name: r.name,
    url: r.url,
    enabled: r.enabled,
    intervalMs: r.interval_ms,
    lastScrapeAt: r.last_scrape_at?.getTime() ?? null,
    lastOkAt: r.last_ok_at?.getTime() ?? null,
    createdAt: r.created_at.getTime(),
    lastError: r.last_error,
  };
}

/** Pure: the failing targets among `targets` at `now`, and the servers judged. */
export function evaluateScrapeTargets(
  targets: readonly ScrapeTargetState[],
  intervalsFor: (serverId: number) => number,
  now: number,
): { observations: JobObservation[]; scopes: Scope[] } {
  const observations: JobObservation[] = [];
  const scopes = new Map<number, Scope>();
  for (const t of targets) {
    if (!t.enabled) continue;
    scopes.set(t.serverId, { serverId: t.serverId, targetId: null });
    if (t.lastError === null || t.lastScrapeAt === null) continue;
    const since = t.lastOkAt ?? t.createdAt;
    const failingMs = now - since;
    if (failingMs < intervalsFor(t.serverId) * t.intervalMs) continue;
    const refused = /^refused: /.test(t.lastError);
    observations.push({
      serverId: t.serverId,
      targetId: null,
      object: t.name,
      severity: 'warning',
      title: `Scrape target ${t.name} has failed for ${humanSeconds(failingMs / 1000)}: ${cut(t.lastError, 160)}`,
      explanation: `pgvigil could not scrape ${t.url} ${t.lastOkAt === null ? 'since the target was added' : `since ${isoTime(t.lastOkAt)}`}; the last attempt (${isoTime(t.lastScrapeAt)}) failed with: ${cut(t.lastError, 500)}. Its request rate, errors and latency are not being recorded.${refused ? ' The address is refused by the SSRF rules: it will not change by itself.' : ''}`,
      evidence: {
        url: t.url,
        last_error: cut(t.lastError, 500),
        last_scrape_at: isoTime(t.lastScrapeAt),
        last_ok_at: isoTime(t.lastOkAt),
        failing_s: Math.round(failingMs / 1000),
        interval_s: t.intervalMs / 1000,
      },
      action: refused
        ? `The target points at a refused address. Fix its url (PUT /api/v1/scrape-targets/ID) or, if the address is truly yours, add it to allowAddresses.`
        : `curl -sS -o /dev/null -w '%{http_code} %{size_download} bytes %{time_total}s\\n' '${t.url}' from the pgvigil server, then the target's timeoutMs and maxBytes (GET /api/v1/scrape-targets)`,
      value: Math.round(failingMs / 1000),
    });
  }
  return { observations, scopes: [...scopes.values()] };
}

export const appScrapeFailing: JobCheck<ScrapeTargetState[]> = {
  id: 'host.app_scrape_failing',
  group: 'host',
  mode: 'job',
  kind: 'alert',
  title: 'Application scrape target failing',
  doc: {
    evidence:
      'the URL, the last error (naming the address and rule for an SSRF refusal), the last attempt and the last success, how long it has failed',
    action:
      'for a refusal: fix the URL or add the address to allowAddresses; otherwise the curl command that shows status, size and time from the pgvigil server, then the timeout and byte cap',
  },
  thresholds: {
    intervals: {
      default: 3,
      unit: 'count',
      help: 'scrape intervals failing in a row before the finding opens',
      min: 1,
      max: 1000,
    },
  },
  clearAfter: 1,
  async load(db) {
    return (await listScrapeTargets(db, 10_000)).map(scrapeTargetState);
  },
  evaluate(input, thresholdsFor, now) {
    return evaluateScrapeTargets(input, (sid) => thresholdsFor(sid, null).intervals ?? 3, now);
  },
};

export const appScrapeChecks = [appScrapeFailing] as const;
