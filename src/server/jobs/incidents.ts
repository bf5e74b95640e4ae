/**
 * The incidents job: every minute, groups the findings that opened lately into incidents
 * (src/intelligence/incidents.ts), names their cause from the causal graph (src/intelligence/causes.ts),
 * measures co-movement of what no chain explains, writes incidents and memberships, and resolves
 * incidents whose members have all resolved. Advisory-locked like every job (one instance at a time).
 *
 * Guarantees: one transaction per server, so an incident and its members appear together, and the live
 * feed hears `incident_opened` / `incident_resolved` only once they are committed. Work per run is
 * bounded: at most `maxCandidates` findings read, at most `maxSeries` series read per explained incident,
 * and series are read only for incidents whose members changed. Findings are looked at for `lookbackMs`
 * after they open: a server whose job was down longer does not group what opened meanwhile.
 */
import type pg from 'pg';
import {
  causeGraph,
  correlate,
  explain,
  type IncidentMember,
  type MemberSeries,
  standingMaxMs,
} from '../../intelligence/causes.js';
import {
  combineSeries,
  defaultIncidentWindowMs,
  groupFindings,
  incidentResolvedAt,
  incidentSeverity,
  type OpenIncident,
  seriesSpecOf,
} from '../../intelligence/incidents.js';
import { defaultRetention, type RetentionPolicy } from '../../storage/partitions.js';
import {
  type IncidentMemberRow,
  incidentCandidates,
  insertIncident,
  type OpenIncidentMemberRow,
  openIncidentMembers,
  pruneResolvedIncidents,
  resolveEmptyIncidents,
  resolveIncident,
  setIncidentSeverity,
  standingFindings,
  updateIncident,
  upsertIncidentMembers,
} from '../../storage/queries/incidents.sql.js';
import { planSeries, querySeries } from '../../storage/series.js';
import { inReadSnapshot, inTransaction } from '../../storage/tx.js';
import type { IncidentOpenedMessage, IncidentResolvedMessage } from '../live/messages.js';
import { publishLive } from '../live/notify.js';
import { resolvedFindingRetentionMs } from './findings.js';
import type { Job } from './runner.js';

export interface IncidentJobOptions {
  windowMs?: number;
  lookbackMs?: number;
  maxCandidates?: number;
  /** Series read per incident for the correlated fallback. */
  maxSeries?: number;
  /** Series history read before the incident's first finding. */
  seriesLeadMs?: number;
  retention?: RetentionPolicy;
  /** Publish live events (default true). */
  live?: boolean;
}

export interface IncidentRunResult {
  candidates: number;
  opened: number;
  extended: number;
  resolved: number;
  /** Series queries for the correlated fallback. */
  seriesRead: number;
  pruned: number;
  /** Servers whose incidents could not be written this run (the others were). */
  failedServers: number;
}

const defaults = {
  windowMs: defaultIncidentWindowMs,
  lookbackMs: 60 * 60_000,
  maxCandidates: 5000,
  maxSeries: 12,
  seriesLeadMs: 30 * 60_000,
};

function memberOf(r: IncidentMemberRow): IncidentMember {
  return {
    id: r.id,
    check: r.check,
    kind: r.kind,
    object: r.object,
    targetId: r.targetId,
    severity: r.severity,
    state: r.state,
    title: r.title,
    evidence: r.evidence ?? {},
    openedAt: r.openedAt,
    resolvedAt: r.resolvedAt,
  };
}

/** Reads each member's metric series at minute resolution (bounded), for the correlated fallback. */
async function memberSeries(
  pool: pg.Pool,
  serverId: number,
  members: readonly IncidentMember[],
  first: readonly string[],
  now: Date,
  o: Required<Pick<IncidentJobOptions, 'maxSeries' | 'seriesLeadMs'>> & { retention: RetentionPolicy },
): Promise<{ series: MemberSeries[]; reads: number }> {
  const ordered = [...members].sort((a, b) => Number(first.includes(b.id)) - Number(first.includes(a.id)));
  const from = Math.min(...members.map((m) => m.openedAt)) - o.seriesLeadMs;
  const to = Math.min(now.getTime(), from + 4 * 3_600_000);
  if (to - from < 5 * 60_000) return { series: [], reads: 0 };
  const seen = new Set<string>();
  const out: MemberSeries[] = [];
  for (const m of ordered) {
    if (seen.size >= o.maxSeries) break;
    const spec = seriesSpecOf(m);
    if (!spec) continue;
    const isTarget = spec.family.startsWith('pg_');
    if (isTarget && m.targetId === null) continue;
    const name = `${spec.family}.${spec.metric}{${spec.labels.join(',')}}${isTarget ? `@${m.targetId}` : ''}`;
    // Another member on the same series co-moves with it by construction: read once, count once.
    if (seen.has(name)) continue;
    seen.add(name);
    try {
      // A range of at most 4 h in one-minute steps: the series reader picks raw rows for it (as the
      // dashboard does), each step the average of its samples.
      const plan = planSeries(
        {
          family: spec.family,
          metrics: spec.metric,
          server: serverId,
          ...(isTarget ? { target: m.targetId! } : {}),
          label: spec.labels,
          from: String(from),
          to: String(to),
          step: '60s',
        },
        now,
        o.retention,
      );
      // Past minutes of raw rows: a streaming standby may answer (DATABASE_READ_URL); it lacks at most the
      // lag bound's newest seconds, which co-movement over hours does not need.
      const r = await inReadSnapshot(pool, 10_000, (c) => querySeries(c, plan, now), plan);
      const points = combineSeries(
        r.series.map((x) => x.points),
        spec.combine,
        spec.invert,
      );
      if (points.length > 0) out.push({ findingId: m.id, series: name, points });
    } catch {
      // A label the family does not have (an object that is not a device name…) or a slow read: this
      // series is left out; co-movement is a hint, not the incident.
    }
  }
  return { series: out, reads: seen.size };
}

/** One run: returns what it did (the job logs it; tests and the benchmark read it). */
export async function runIncidents(
  pool: pg.Pool,
  now: Date,
  opts: IncidentJobOptions = {},
): Promise<IncidentRunResult> {
  const o = { ...defaults, ...opts, retention: opts.retention ?? defaultRetention };
  const result: IncidentRunResult = {
    candidates: 0,
    opened: 0,
    extended: 0,
    resolved: 0,
    seriesRead: 0,
    pruned: 0,
    failedServers: 0,
  };
  const since = new Date(now.getTime() - o.lookbackMs);
  const candidates = await incidentCandidates(pool, since, o.maxCandidates);
  result.candidates = candidates.length;
  // Older findings still open, for chains whose cause was found long before its effect.
  const standingRows =
    candidates.length > 0
      ? await standingFindings(pool, new Date(now.getTime() - standingMaxMs), since, o.maxCandidates)
      : [];
  const standingOf = new Map<number, IncidentMember[]>();
  for (const r of standingRows)
    standingOf.set(r.serverId, [...(standingOf.get(r.serverId) ?? []), memberOf(r)]);
  const openRows = await openIncidentMembers(pool, null);
  const servers = new Set<number>([...candidates.map((c) => c.serverId), ...openRows.map((r) => r.serverId)]);

  const candidatesOf = new Map<number, IncidentMember[]>();
  for (const c of candidates)
    candidatesOf.set(c.serverId, [...(candidatesOf.get(c.serverId) ?? []), memberOf(c)]);
  const openOf = new Map<number, Map<string, OpenIncidentMemberRow[]>>();
  for (const r of openRows) {
    const byIncident = openOf.get(r.serverId) ?? new Map<string, OpenIncidentMemberRow[]>();
    openOf.set(r.serverId, byIncident);
    byIncident.set(r.incidentId, [...(byIncident.get(r.incidentId) ?? []), r]);
  }

  const runServer = async (serverId: number) => {
    const byIncident = openOf.get(serverId) ?? new Map<string, OpenIncidentMemberRow[]>();
    const open: OpenIncident[] = [...byIncident].map(([id, rows]) => ({ id, members: rows.map(memberOf) }));
    const mine = candidatesOf.get(serverId) ?? [];
    const plan = groupFindings(open, mine, causeGraph, o.windowMs, standingOf.get(serverId) ?? []);

    // Explain (and read series for) what changed, outside the write transaction.
    const explained = async (members: IncidentMember[]) => {
      const e = explain(members, causeGraph, o.windowMs);
      const read =
        e.unexplained.length > 0
          ? await memberSeries(pool, serverId, members, e.unexplained, now, o)
          : { series: [], reads: 0 };
      result.seriesRead += read.reads;
      const correlated = correlate(e.unexplained, read.series);
      return {
        e,
        write: {
          serverId,
          openedAt: new Date(Math.min(...members.map((m) => m.openedAt))),
          title: e.title,
          cause: e.cause,
          correlated,
          severity: incidentSeverity(members),
        },
      };
    };
    const extended: Array<{ id: string; all: IncidentMember[] } & Awaited<ReturnType<typeof explained>>> = [];
    for (const j of plan.joins) {
      // A finding that reopened within its own incident rejoins as its new episode.
      const rejoining = new Set(j.members.map((m) => m.id));
      const all = [
        ...open.find((i) => i.id === j.incidentId)!.members.filter((m) => !rejoining.has(m.id)),
        ...j.members,
      ];
      extended.push({ id: j.incidentId, all, ...(await explained(all)) });
    }
    const created: Array<{ members: IncidentMember[] } & Awaited<ReturnType<typeof explained>>> = [];
    for (const members of plan.creates) created.push({ members, ...(await explained(members)) });

    const roleRows = (members: readonly IncidentMember[], roles: Record<string, string>) =>
      members.map((m) => ({
        findingId: m.id,
        findingOpenedAt: new Date(m.openedAt),
        role: roles[m.id] ?? 'correlated',
      }));

    await inTransaction(pool, async (c) => {
      const live: Array<IncidentOpenedMessage | IncidentResolvedMessage> = [];
      const touched = new Set<string>();
      for (const x of extended) {
        await updateIncident(c, x.id, x.write, now);
        await upsertIncidentMembers(c, serverId, x.id, roleRows(x.all, x.e.roles), now);
        touched.add(x.id);
        result.extended++;
        const at = incidentResolvedAt(x.all);
        if (at !== null && (await resolveIncident(c, x.id, new Date(at), now))) {
          result.resolved++;
          live.push({
            type: 'incident_resolved',
            incidentId: x.id,
            serverId,
            title: x.write.title,
            ts: now.getTime(),
          });
        }
      }
      for (const x of created) {
        const id = await insertIncident(c, x.write, now);
        await upsertIncidentMembers(c, serverId, id, roleRows(x.members, x.e.roles), now);
        result.opened++;
        live.push({
          type: 'incident_opened',
          incidentId: id,
          serverId,
          severity: x.write.severity,
          title: x.write.title.slice(0, 300),
          confidence: x.e.cause?.confidence ?? null,
          ts: now.getTime(),
        });
        const at = incidentResolvedAt(x.members);
        if (at !== null && (await resolveIncident(c, id, new Date(at), now))) {
          result.resolved++;
          live.push({
            type: 'incident_resolved',
            incidentId: id,
            serverId,
            title: x.write.title.slice(0, 300),
            ts: now.getTime(),
          });
        }
      }
      // Incidents that gained no member: severity follows their members; resolved when all are.
      for (const i of open) {
        if (touched.has(i.id)) continue;
        const rows = byIncident.get(i.id)!;
        const severity = incidentSeverity(i.members);
        if (severity !== rows[0]!.incidentSeverity) await setIncidentSeverity(c, i.id, severity, now);
        const at = incidentResolvedAt(i.members);
        if (at !== null && (await resolveIncident(c, i.id, new Date(at), now))) {
          result.resolved++;
          live.push({
            type: 'incident_resolved',
            incidentId: i.id,
            serverId,
            title: rows[0]!.incidentTitle.slice(0, 300),
            ts: now.getTime(),
          });
        }
      }
      if (o.live !== false && live.length > 0) await publishLive(c, live);
    });
  };

  // One server's failure (its transaction rolled back) does not keep the others from their incidents;
  // the run still fails, so the job's record shows it.
  let firstError: unknown;
  for (const serverId of [...servers].sort((a, b) => a - b)) {
    try {
      await runServer(serverId);
    } catch (err) {
      result.failedServers++;
      firstError ??= err;
    }
  }
  result.resolved += await resolveEmptyIncidents(pool, now);
  result.pruned = await pruneResolvedIncidents(pool, new Date(now.getTime() - resolvedFindingRetentionMs));
  if (firstError !== undefined) {
    throw new Error(
      `incidents of ${result.failedServers} server(s) not written: ${(firstError as Error).message ?? firstError}`,
    );
  }
  return result;
}

export function incidentsJob(opts: IncidentJobOptions = {}): Job {
  return {
    name: 'incidents',
    intervalMs: 60_000,
    run: async ({ pool, log, now }) => {
      const started = performance.now();
      const r = await runIncidents(pool, now, opts);
      if (r.opened > 0 || r.extended > 0 || r.resolved > 0 || r.pruned > 0) {
        log.info({ ...r, ms: Math.round(performance.now() - started) }, 'incidents job');
      }
    },
  };
}
