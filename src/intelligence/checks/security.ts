/**
 * Security events in the log windows (job checks): SSH brute force, fail2ban bans, firewall blocks and
 * PostgreSQL authentication failures, by address (and user), over the last 5 minutes. The agent's parsers
 * classify the lines (context.event: ssh_auth_failed, ssh_invalid_user, fail2ban_ban, firewall_block,
 * auth_failed, auth_rejected); the window query groups them (src/storage/queries/security.sql.ts).
 *
 * What crosses a threshold is also stored as a security event (migration 0016) by the findings job, through
 * `securityEventKeys` — the same predicate the findings use, so the table and the findings agree.
 */

import type { Queryable } from '../../storage/queries/queryable.js';
import {
  activeServers,
  pruneSecurityEvents,
  recordSecurityEvents,
  type SecurityEventKey,
  type SecurityEventType,
  type SecurityGroup,
  securityGroups,
} from '../../storage/queries/security.sql.js';
import type { Draft, JobCheck, JobObservation, Scope, Thresholds } from './types.js';
import { cut, grade, isoTime, literal, shellWord } from './util.js';

/** The window every security check counts over. */
export const securityWindowMs = 5 * 60_000;
/** A server that shipped nothing for this long is not looked at (its findings time out instead). */
export const activeServerMs = 60 * 60_000;
/** Findings per server and check at most (the largest groups). */
const maxPerServer = 20;

export interface SecurityInput {
  servers: number[];
  groups: SecurityGroup[];
}

// The security checks and the event recorder read the same window in one job run: one query, shared.
const loaded = new WeakMap<object, { at: number; input: Promise<SecurityInput> }>();

/** The window ending at `now`, read once per store and `now`. */
export function loadSecurityInput(db: Queryable, now: Date): Promise<SecurityInput> {
  const hit = loaded.get(db);
  if (hit && hit.at === now.getTime()) return hit.input;
  const input = (async () => ({
    servers: await activeServers(db, new Date(now.getTime() - activeServerMs)),
    groups: await securityGroups(db, new Date(now.getTime() - securityWindowMs), now),
  }))();
  loaded.set(db, { at: now.getTime(), input });
  input.catch(() => loaded.delete(db));
  return input;
}

interface SecurityCheck extends JobCheck<SecurityInput> {
  eventType: SecurityEventType;
  /** The severity a group earns, or null below the thresholds. */
  severityOf(g: SecurityGroup, t: Thresholds): ReturnType<typeof grade>;
  draft(g: SecurityGroup, severity: NonNullable<ReturnType<typeof grade>>): Draft;
}

function securityCheck(spec: Omit<SecurityCheck, 'mode' | 'group' | 'load' | 'evaluate' | 'clearAfter'>) {
  const check: SecurityCheck = {
    ...spec,
    mode: 'job',
    group: 'security',
    // The window already spans 5 minutes: once it holds nothing, the episode is over.
    clearAfter: 1,
    load: loadSecurityInput,
    evaluate(input, thresholdsFor) {
      const observations: JobObservation[] = [];
      const perServer = new Map<number, number>();
      for (const g of input.groups) {
        if (g.type !== spec.eventType) continue;
        const severity = spec.severityOf(g, thresholdsFor(g.serverId, null));
        if (!severity) continue;
        const n = perServer.get(g.serverId) ?? 0;
        if (n >= maxPerServer) continue;
        perServer.set(g.serverId, n + 1);
        observations.push({ ...spec.draft(g, severity), serverId: g.serverId, targetId: null });
      }
      const scopes: Scope[] = input.servers.map((serverId) => ({ serverId, targetId: null }));
      return { observations, scopes };
    },
  };
  return check;
}

const counts = (warning: number, critical: number, what: string) => ({
  warning: {
    default: warning,
    unit: 'count',
    help: `${what} in 5 minutes above which it warns`,
    min: 1,
    max: 100_000,
  },
  critical: {
    default: critical,
    unit: 'count',
    help: `${what} in 5 minutes above which it is critical`,
    min: 1,
    max: 1_000_000,
  },
});

/** Evidence every security finding shares: the numbers, times and sample lines. */
function baseEvidence(g: SecurityGroup) {
  return {
    ip: g.ip,
    count: g.count,
    first: isoTime(g.first),
    last: isoTime(g.last),
    window_s: securityWindowMs / 1000,
    sample_lines: g.samples.slice(0, 5).map((s) => cut(s)),
  };
}

/** `ufw deny from <ip>` when the address is one (never a host name or '' into a shell command). */
function denyCommand(ip: string): string | null {
  return /^[0-9a-fA-F:.]+(?:\/\d{1,3})?$/.test(ip) && ip.length <= 50 ? `ufw deny from ${ip}` : null;
}

export const sshBruteforce = securityCheck({
  id: 'security.ssh_bruteforce',
  eventType: 'ssh_bruteforce',
  kind: 'alert',
  title: 'SSH brute force from one address',
  doc: {
    evidence:
      'the address, failed logins in 5 minutes, the user names tried, first and last time, up to 5 log lines',
    action: '`ufw deny from <ip>`, and `fail2ban-client status sshd` to see whether fail2ban is banning',
  },
  thresholds: counts(5, 100, 'failed SSH logins from one address'),
  severityOf: (g, t) => grade(g.count, t),
  draft(g, severity) {
    const users = g.users.slice(0, 10).map((u) => cut(u, 100));
    const deny = denyCommand(g.ip);
    return {
      object: g.ip,
      severity,
      title: `${g.count} failed SSH logins from ${cut(g.ip, 100)} in 5 min`,
      explanation: `${cut(g.ip, 100)} failed to log in over SSH ${g.count} times in 5 minutes, trying ${users.length} user name${users.length === 1 ? '' : 's'} (${users.join(', ') || 'unknown'}). That is password guessing; a weak password on any of these accounts would let it in.`,
      evidence: { ...baseEvidence(g), users },
      action: `${deny ? `${deny}; ` : ''}fail2ban-client status sshd  # and set PasswordAuthentication no in /etc/ssh/sshd_config`,
      value: g.count,
    };
  },
});

export const fail2banBans = securityCheck({
  id: 'security.fail2ban_bans',
  eventType: 'fail2ban_ban',
  kind: 'alert',
  title: 'fail2ban banned an address',
  doc: {
    evidence: 'the address, the jails, bans in 5 minutes, first and last time, the ban lines',
    action:
      '`fail2ban-client status <jail>`; `fail2ban-client set <jail> unbanip <ip>` if it is a legitimate client',
  },
  thresholds: {
    bans: {
      default: 0,
      unit: 'count',
      help: 'bans of one address in 5 minutes above which it is reported',
      min: 0,
      max: 10_000,
    },
  },
  severityOf: (g, t) => grade(g.count, t, { info: 'bans' }),
  draft(g, severity) {
    const jails = g.jails.slice(0, 10).map((j) => cut(j, 100));
    const jail = jails[0] ?? 'sshd';
    return {
      object: g.ip,
      severity,
      title: `fail2ban banned ${cut(g.ip, 100)} (${jails.join(', ') || 'unknown jail'})`,
      explanation: `fail2ban banned ${cut(g.ip, 100)} ${g.count === 1 ? 'once' : `${g.count} times`} in the last 5 minutes in ${jails.length === 1 ? 'jail' : 'jails'} ${jails.join(', ') || 'unknown'}: the address kept failing and is now blocked for the jail's bantime. Nothing to do unless it is one of your own clients.`,
      evidence: { ...baseEvidence(g), jails },
      action: `fail2ban-client status ${shellWord(jail)}  # a legitimate client: fail2ban-client set ${shellWord(jail)} unbanip ${shellWord(g.ip)}`,
      value: g.count,
    };
  },
});

export const firewallBlocks = securityCheck({
  id: 'security.firewall_blocks',
  eventType: 'firewall_block',
  kind: 'alert',
  title: 'Many firewall blocks from one address',
  doc: {
    evidence: 'the address, UFW BLOCK lines in 5 minutes, first and last time, up to 5 lines',
    action:
      '`ufw deny from <ip>` for a persistent scanner (the firewall already drops it; this stops the logging noise)',
  },
  thresholds: {
    info: {
      default: 10,
      unit: 'count',
      help: 'UFW blocks from one address in 5 minutes above which it is reported',
      min: 1,
      max: 1_000_000,
    },
  },
  severityOf: (g, t) => grade(g.count, t, { info: 'info' }),
  draft(g, severity) {
    const deny = denyCommand(g.ip);
    return {
      object: g.ip,
      severity,
      title: `${g.count} firewall blocks from ${cut(g.ip, 100)} in 5 min`,
      explanation: `The firewall (UFW) dropped ${g.count} packets from ${cut(g.ip, 100)} in 5 minutes: something is scanning or retrying against a closed port. The firewall holds; check that the port it wants is meant to be closed.`,
      evidence: baseEvidence(g),
      action: deny ? `${deny}  # explicit rule, so it is dropped before logging` : 'ufw status numbered',
      value: g.count,
    };
  },
});

export const pgAuthFailures = securityCheck({
  id: 'security.pg_auth_failures',
  eventType: 'pg_auth_failure',
  kind: 'alert',
  title: 'PostgreSQL authentication failures from one address and user',
  doc: {
    evidence:
      'the address, the user, failures in 5 minutes, the databases asked for, first and last time, up to 5 log lines',
    action:
      'the role (`SELECT … FROM pg_roles WHERE rolname = …`) and the pg_hba.conf rules (`SELECT … FROM pg_hba_file_rules`), `ufw deny from <ip>` for a stranger',
  },
  thresholds: counts(5, 50, 'failed PostgreSQL logins per address and user'),
  severityOf: (g, t) => grade(g.count, t),
  draft(g, severity) {
    const user = cut(g.username, 100);
    const ip = cut(g.ip, 100) || 'an unknown address';
    const databases = g.databases.slice(0, 10).map((d) => cut(d, 100));
    const deny = denyCommand(g.ip);
    return {
      object: `${g.username}@${g.ip}`,
      severity,
      title: `${g.count} failed PostgreSQL logins as ${user} from ${ip} in 5 min`,
      explanation: `PostgreSQL refused ${g.count} logins as "${user}" from ${ip} in 5 minutes (wrong password, unknown role or no pg_hba.conf entry). Either a client has a stale password, or someone is guessing.`,
      evidence: { ...baseEvidence(g), user: g.username, databases },
      action: `SELECT rolname, rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname = ${literal(g.username)}; SELECT line_number, type, database, user_name, address, auth_method FROM pg_hba_file_rules;${deny ? ` -- a stranger: ${deny}` : ''}`,
      value: g.count,
    };
  },
});

export const securityChecks: readonly SecurityCheck[] = [
  sshBruteforce,
  fail2banBans,
  firewallBlocks,
  pgAuthFailures,
];

/** The groups that cross their check's thresholds (for servers where the check is on): what to store. */
export function securityEventKeys(
  input: SecurityInput,
  thresholdsFor: (check: string, serverId: number) => Thresholds | null,
): SecurityEventKey[] {
  const keys: SecurityEventKey[] = [];
  for (const check of securityChecks) {
    for (const g of input.groups) {
      if (g.type !== check.eventType) continue;
      const t = thresholdsFor(check.id, g.serverId);
      if (t && check.severityOf(g, t))
        keys.push({ serverId: g.serverId, type: g.type, ip: g.ip, username: g.username });
    }
  }
  return keys;
}

/** Security events are kept this long (pruned by the findings job). */
export const securityEventRetentionMs = 30 * 86_400_000;

/**
 * Stores what the security checks detect in the window ending at `now` as security events, and prunes
 * those past retention. Run by the findings job after the checks (the window is read once for both).
 */
export async function storeSecurityEvents(
  db: Queryable,
  now: Date,
  thresholds: {
    for(check: string, serverId: number, targetId: null): Thresholds;
    enabled(check: string, serverId: number, targetId: null): boolean;
  },
): Promise<{ written: number; pruned: number }> {
  const input = await loadSecurityInput(db, now);
  const keys = securityEventKeys(input, (check, serverId) =>
    thresholds.enabled(check, serverId, null) ? thresholds.for(check, serverId, null) : null,
  );
  // Whole windows: a window the sliding 5 minutes only partly cover is counted from its start, so a later
  // run never rewrites it with the smaller count of its remaining part.
  const from = Math.floor((now.getTime() - securityWindowMs) / securityWindowMs) * securityWindowMs;
  const written = await recordSecurityEvents(db, keys, new Date(from), now);
  const pruned = await pruneSecurityEvents(db, new Date(now.getTime() - securityEventRetentionMs));
  return { written, pruned };
}
