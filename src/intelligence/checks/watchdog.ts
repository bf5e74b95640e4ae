/**
 * The watchdog (job checks): agents that went silent, collectors and PostgreSQL families that fail, pushed
 * configuration an agent refused, an agent clock that is off, and the server's own jobs failing or late.
 *
 * Clock skew: the server keeps, with each agent's latest self-report, the batch's sealedAt minus the time
 * it received it (`status.serverClockSkewMs`, src/server/ingest/decode.ts). Delivery delay only lowers
 * that number, so an agent ahead of the server is certain; one behind is trusted only when the batch was
 * not part of a backlog (its spool held at most one batch when sealed).
 */
import {
  type CollectorFailure,
  firstServer,
  type JobRunState,
  jobRunStates,
  pgCollectorState,
  type WatchdogAgent,
  watchdogAgents,
} from '../../storage/queries/watchdog.sql.js';
import { psqlCommand } from './psql.js';
import type { JobCheck, JobObservation, Scope } from './types.js';
import { cut, humanSeconds, isoTime, num, shellWord, str } from './util.js';

/** Servers with at least one agent, revoked or not: the scopes of the per-agent checks. */
function agentScopes(agents: readonly WatchdogAgent[]): Scope[] {
  return [...new Set(agents.map((a) => a.serverId))].map((serverId) => ({ serverId, targetId: null }));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const agentSilent: JobCheck<WatchdogAgent[]> = {
  id: 'watchdog.agent_silent',
  group: 'watchdog',
  mode: 'job',
  kind: 'alert',
  title: 'An agent stopped sending',
  doc: {
    evidence: 'the agent, its host, when its last batch came, its push interval, how long it has been silent',
    action: '`systemctl status pgvigil-agent` and `journalctl -u pgvigil-agent --since "-1h"` on the host',
  },
  thresholds: {
    intervals: {
      default: 3,
      unit: 'count',
      help: 'push intervals without a batch before an agent is silent',
      min: 2,
      max: 1000,
    },
    interval: {
      default: 10,
      unit: 's',
      help: 'push interval of agents that do not report theirs',
      min: 1,
      max: 3600,
    },
    min_silence: {
      default: 60,
      unit: 's',
      help: 'silence shorter than this never alerts (the server records arrivals every 10 s)',
      min: 10,
      max: 86_400,
    },
  },
  // Resolved by the first run that sees it back.
  clearAfter: 1,
  load: (db) => watchdogAgents(db),
  evaluate(agents, thresholdsFor, now) {
    const observations: JobObservation[] = [];
    for (const a of agents) {
      // A revoked agent is not silent: it is gone. One that never sent a batch has no silence to measure.
      if (a.revoked || a.lastSeenAt === null) continue;
      const t = thresholdsFor(a.serverId, null);
      const reported = num(a.pushIntervalMs);
      const intervalS =
        reported !== null && reported > 0 && reported <= 86_400_000 ? reported / 1000 : t.interval!;
      const limitS = Math.max(t.intervals! * intervalS, t.min_silence!);
      const seen = new Date(a.lastSeenAt).getTime();
      const silentS = (now - seen) / 1000;
      if (!Number.isFinite(silentS) || silentS <= limitS) continue;
      const host = cut(a.hostname, 253);
      observations.push({
        serverId: a.serverId,
        targetId: null,
        object: `agent:${a.agentId}`,
        severity: 'critical',
        title: `Agent on ${host} silent for ${humanSeconds(silentS)}`,
        explanation: `No batch has come from the agent on ${host} for ${humanSeconds(silentS)} (it pushes every ${humanSeconds(intervalS)}; silent after ${humanSeconds(limitS)}). Nothing about this host or its databases is being collected: the agent stopped, the host is down, or it cannot reach this server.`,
        evidence: {
          agent_id: a.agentId,
          hostname: host,
          last_seen_at: isoTime(a.lastSeenAt),
          silent_s: Math.round(silentS),
          push_interval_s: intervalS,
          limit_s: limitS,
        },
        action: `ssh ${shellWord(host)} 'systemctl status pgvigil-agent; journalctl -u pgvigil-agent --since "-1h" | tail -n 50'`,
        value: Math.round(silentS),
      });
    }
    return { observations, scopes: agentScopes(agents) };
  },
};

export const collectorFailing: JobCheck<{
  agents: WatchdogAgent[];
  pg: { targets: Array<{ serverId: number; targetId: number }>; failures: CollectorFailure[] };
}> = {
  id: 'watchdog.collector_failing',
  group: 'watchdog',
  mode: 'job',
  kind: 'alert',
  title: 'A collector or PostgreSQL family fails',
  doc: {
    evidence:
      'the collector (agent self-report) or the PostgreSQL family and database (newest collection), the error',
    action:
      'read the error; for PostgreSQL families usually a missing grant (`GRANT pg_monitor TO <agent role>`) or extension',
  },
  thresholds: {},
  load: async (db, now) => ({
    agents: await watchdogAgents(db),
    pg: await pgCollectorState(db, new Date(now.getTime() - 15 * 60_000)),
  }),
  evaluate(input) {
    const observations: JobObservation[] = [];
    for (const a of input.agents) {
      if (a.revoked || !Array.isArray(a.failing)) continue;
      for (const f of a.failing.slice(0, 20)) {
        if (!isObject(f)) continue;
        const name = cut(str(f.name), 100) || 'unknown';
        const error = cut(str(f.lastError), 500) || 'no error given';
        observations.push({
          serverId: a.serverId,
          targetId: null,
          object: `collector:${name}`,
          severity: 'warning',
          title: `Collector ${name} failing on ${cut(a.hostname, 100)}`,
          explanation: `The agent on ${cut(a.hostname, 100)} reports that its ${name} collector fails: ${error}. Its metrics are missing until it recovers.`,
          evidence: { agent_id: a.agentId, collector: name, error, failures: num(f.failures) },
          action: `ssh ${shellWord(a.hostname.slice(0, 253))} 'journalctl -u pgvigil-agent --since "-1h" | grep -i ${shellWord(name)} | tail -n 20'`,
          value: null,
        });
      }
    }
    const byTarget = new Map<string, CollectorFailure[]>();
    for (const f of input.pg.failures) {
      const k = `${f.serverId}|${f.targetId}`;
      const list = byTarget.get(k) ?? [];
      list.push(f);
      byTarget.set(k, list);
    }
    for (const list of byTarget.values()) {
      for (const f of list.slice(0, 20)) {
        const family = cut(f.family, 100);
        const error = cut(f.error ?? '', 500) || 'no error given';
        const where = f.datname ? ` in database ${cut(f.datname, 100)}` : '';
        const grant = /permission denied|must be superuser|pg_read_all_stats|pg_monitor/i.test(error);
        observations.push({
          serverId: f.serverId,
          targetId: f.targetId,
          object: `pg:${family}${f.datname ? `:${cut(f.datname, 100)}` : ''}`,
          severity: 'warning',
          title: `PostgreSQL family ${family} failing on ${cut(f.target, 100)}${where}`,
          explanation: `The newest collection of ${cut(f.target, 100)} could not read ${family}${where}: ${error}. These metrics (and the checks that need them) are missing until it works.`,
          evidence: { family, datname: f.datname, error, ts: isoTime(f.ts) },
          action: family.startsWith('pg_custom:')
            ? customMetricAction(family.slice('pg_custom:'.length), grant)
            : grant
              ? grantMonitorAction(error)
              : `-- read the error; on the host, \`pgvigil collect --once --only postgres\` with the agent's --postgres (or --postgres-file) prints each family's error as the agent meets it`,
          value: null,
        });
      }
    }
    const scopes: Scope[] = [
      ...agentScopes(input.agents),
      ...input.pg.targets.map((t) => ({ serverId: t.serverId, targetId: t.targetId })),
    ];
    return { observations, scopes };
  },
};

/**
 * The grant that lets the agent's role read what pg_monitor reads. The agent names its role in a privilege
 * refusal (`…; the agent connects as role "mon"`, src/agent/collectors/postgres/session.ts); the last such
 * phrase is taken (a paused refusal follows it with `; not asked again before …`), and only a name of
 * letters, digits and `_ . @ -` (the agent names no other), which goes into the statement as a quoted
 * identifier and into the shell as one word unchanged. Without it the role is left to fill in:
 * `current_user` there would be the superuser who runs the grant.
 */
export function grantMonitorAction(error: string): string {
  const role = /^.*; the agent connects as role "([\w.@-]{1,63})"(?:;|$)/.exec(error)?.[1];
  return role === undefined
    ? 'GRANT pg_monitor TO <the role the agent connects as>; -- as a superuser'
    : `${psqlCommand(null, [`GRANT pg_monitor TO "${role}";`])} -- as a superuser`;
}

/**
 * A custom SQL metric (family `pg_custom:<name>` in pg_collector) fails: its query is the user's, so the fix
 * is in its definition or in a grant on what it reads, tried the way the agent runs it.
 */
function customMetricAction(name: string, grant: boolean): string {
  if (grant) {
    return `-- custom metric ${name}: the agent's role may not read what its query reads; as a superuser: GRANT SELECT ON <the relation in the error> TO <agent role>; -- or GRANT pg_read_all_stats / pg_monitor`;
  }
  return `-- custom metric ${name}: correct its SQL in the agent's --custom-metrics-file (or customMetrics of its pushed config), then SIGHUP the agent; try it as the agent runs it: BEGIN READ ONLY; SET LOCAL statement_timeout = '5s'; <its SQL>; ROLLBACK;`;
}

export const configRefused: JobCheck<WatchdogAgent[]> = {
  id: 'watchdog.config_refused',
  group: 'watchdog',
  mode: 'job',
  kind: 'alert',
  title: 'An agent refused its pushed configuration',
  doc: {
    evidence: 'the agent, the configuration version (etag), the reason it gave, when',
    action: 'correct the configuration: `PUT /api/v1/agents/<id>/config` with a valid one',
  },
  thresholds: {},
  clearAfter: 1,
  load: (db) => watchdogAgents(db),
  evaluate(agents) {
    const observations: JobObservation[] = [];
    for (const a of agents) {
      if (a.revoked || !isObject(a.configStatus) || a.configStatus.applied !== false) continue;
      const error = cut(str(a.configStatus.error), 500) || 'no reason given';
      observations.push({
        serverId: a.serverId,
        targetId: null,
        object: `agent:${a.agentId}`,
        severity: 'warning',
        title: `Agent on ${cut(a.hostname, 100)} refused its configuration`,
        explanation: `The agent on ${cut(a.hostname, 100)} did not apply the configuration pushed to it: ${error}. It keeps running with the previous one, so the change you made is not in force.`,
        evidence: {
          agent_id: a.agentId,
          etag: cut(str(a.configStatus.etag), 100),
          error,
          at: cut(str(a.configStatus.at), 40),
        },
        action: `curl -s -H "authorization: Bearer $TOKEN" "$PGVIGIL_URL/api/v1/agents/${a.agentId}/config"  # fix it, then PUT the corrected one`,
        value: null,
      });
    }
    return { observations, scopes: agentScopes(agents) };
  },
};

export const clockSkew: JobCheck<WatchdogAgent[]> = {
  id: 'watchdog.clock_skew',
  group: 'watchdog',
  mode: 'job',
  kind: 'alert',
  title: "An agent's clock is off",
  doc: {
    evidence: 'the agent, the skew in ms (positive: ahead of the server) as measured on its latest batch',
    action:
      '`timedatectl status` and `chronyc tracking` on the host; enable NTP (`timedatectl set-ntp true`)',
  },
  thresholds: {
    warning: {
      default: 30,
      unit: 's',
      help: 'clock difference between agent and server above which it warns',
      min: 1,
      max: 86_400,
    },
  },
  load: (db) => watchdogAgents(db),
  evaluate(agents, thresholdsFor) {
    const observations: JobObservation[] = [];
    for (const a of agents) {
      if (a.revoked) continue;
      const skewMs = num(a.clockSkewMs);
      if (skewMs === null) continue;
      const pending = num(a.pendingBatches);
      // Behind could be a late batch: only believed from a batch that was not waiting in a backlog.
      if (skewMs < 0 && (pending === null || pending > 1)) continue;
      const limitS = thresholdsFor(a.serverId, null).warning!;
      if (Math.abs(skewMs) / 1000 <= limitS) continue;
      const host = cut(a.hostname, 253);
      const dir = skewMs > 0 ? 'ahead of' : 'behind';
      observations.push({
        serverId: a.serverId,
        targetId: null,
        object: `agent:${a.agentId}`,
        severity: 'warning',
        title: `Clock on ${host} is ${humanSeconds(Math.abs(skewMs) / 1000)} ${dir} the server`,
        explanation: `The agent on ${host} stamps its batches ${humanSeconds(Math.abs(skewMs) / 1000)} ${dir} this server's clock. Metrics and log lines from it are placed at the wrong time, rates and correlations with other hosts are off, and rows more than 10 minutes ahead are refused.`,
        evidence: { agent_id: a.agentId, hostname: host, skew_ms: Math.round(skewMs), limit_s: limitS },
        action: `ssh ${shellWord(host)} 'timedatectl status; chronyc tracking; sudo timedatectl set-ntp true'`,
        value: Math.round(skewMs / 1000),
      });
    }
    return { observations, scopes: agentScopes(agents) };
  },
};

export const jobFailing: JobCheck<{ serverId: number | null; jobs: JobRunState[] }> = {
  id: 'watchdog.job_failing',
  group: 'watchdog',
  mode: 'job',
  kind: 'alert',
  title: "One of the server's own jobs fails or is late",
  doc: {
    evidence:
      'the job, its last error or how long since it last finished, its interval, runs and failures (filed under the oldest server)',
    action:
      'read the server\'s log for the job (`journalctl -u pgvigil-server | grep \'"job":"<name>"\'`) and `GET /api/v1/admin/jobs`',
  },
  thresholds: {
    intervals: {
      default: 3,
      unit: 'count',
      help: 'intervals without a finished run before a job is late',
      min: 2,
      max: 1000,
    },
  },
  load: async (db) => ({ serverId: await firstServer(db), jobs: await jobRunStates(db) }),
  evaluate(input, thresholdsFor, now) {
    if (input.serverId === null) return { observations: [], scopes: [] };
    const serverId = input.serverId;
    const t = thresholdsFor(serverId, null);
    const observations: JobObservation[] = [];
    for (const j of input.jobs) {
      const job = cut(j.job, 100);
      const finished = j.lastFinishedAt === null ? null : new Date(j.lastFinishedAt).getTime();
      const started = j.lastStartedAt === null ? null : new Date(j.lastStartedAt).getTime();
      const intervalMs = num(j.intervalMs);
      const base = {
        job,
        interval_s: intervalMs === null ? null : intervalMs / 1000,
        runs: num(j.runs),
        failures: num(j.failures),
        last_started_at: isoTime(j.lastStartedAt),
        last_finished_at: isoTime(j.lastFinishedAt),
      };
      const action = `journalctl -u pgvigil-server --since "-1h" | grep '"job":"${job.replace(/[^\w-]/g, '')}"' | tail -n 20`;
      if (j.lastError !== null && j.lastError !== '') {
        const error = cut(j.lastError, 500);
        observations.push({
          serverId,
          targetId: null,
          object: `job:${job}`,
          severity: 'warning',
          title: `Server job ${job} failed`,
          explanation: `The last run of the pgvigil server's ${job} job failed: ${error}. What it maintains (partitions, rollups, pruning, presence, findings) falls behind until it succeeds again.`,
          evidence: { ...base, error },
          action,
          value: null,
        });
        continue;
      }
      if (intervalMs === null || intervalMs <= 0) continue;
      const last = finished ?? started;
      if (last === null) continue;
      const lateS = (now - last) / 1000;
      const limitS = (t.intervals! * intervalMs) / 1000;
      if (lateS <= limitS) continue;
      observations.push({
        serverId,
        targetId: null,
        object: `job:${job}`,
        severity: 'warning',
        title: `Server job ${job} has not run for ${humanSeconds(lateS)}`,
        explanation: `The pgvigil server's ${job} job runs every ${humanSeconds(intervalMs / 1000)} but has not finished a run for ${humanSeconds(lateS)}: it hangs, or no server instance runs it.`,
        evidence: { ...base, late_s: Math.round(lateS) },
        action,
        value: Math.round(lateS),
      });
    }
    return { observations, scopes: [{ serverId, targetId: null }] };
  },
};

export const watchdogChecks = [agentSilent, collectorFailing, configRefused, clockSkew, jobFailing];
