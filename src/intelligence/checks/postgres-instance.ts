/**
 * PostgreSQL instance checks on ingest: the instance is down, and connections near max_connections.
 *
 * Connections near the limit warn only when the share has held for `for_s` (like the host's sustained
 * checks): a busy hour's peak brushing 80 % for a minute or two leaves a fifth of the slots free and asks
 * nothing of anyone, and a single-sample rule fires and resolves again on every such peak. Critical (the
 * last few slots) is raised at once: the next burst is refused, and a leak ramps through it in minutes.
 */
import { forSpec } from './host.js';
import { serviceOf } from './psql.js';
import type { IngestCheck } from './types.js';
import { grade, humanSeconds, num, round2, str } from './util.js';

export const pgDown: IngestCheck = {
  id: 'pg.down',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'alert',
  title: 'PostgreSQL is down or unreachable',
  doc: {
    evidence: 'the connection error the agent got, when it last answered',
    action:
      'check the service and its log: `systemctl status postgresql` (`postgresql@15-main` for a Debian cluster) and the last lines of the server log',
  },
  inputs: ['pg_instance'],
  thresholds: {},
  clearAfter: 1,
  evaluate(input) {
    const rows = input.latest('pg_instance');
    const row = rows[rows.length - 1];
    if (row?.up !== false) return [];
    const error = str(row.error) || 'no answer';
    // The settings the target sent while it answered name its unit (a Debian cluster's own).
    const unit = serviceOf(input);
    return [
      {
        object: '',
        severity: 'critical',
        title: `PostgreSQL ${input.targetName || 'target'} is not answering`,
        explanation: `The agent could not connect to or query ${input.targetName || 'this PostgreSQL'}: ${error}. Nothing else about this database is collected until it answers again.`,
        evidence: { error, ts: new Date(num(row.ts) ?? 0).toISOString() },
        action: `systemctl status ${unit} && journalctl -u ${unit} --since "-15 min"`,
        value: null,
      },
    ];
  },
};

export const pgConnections: IngestCheck = {
  id: 'pg.connections',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'alert',
  title: 'Connections near max_connections',
  doc: {
    evidence:
      'backends in use, max_connections, reserved slots, the share used, the largest groups by database/user/application',
    action:
      "find idle sessions (`SELECT … FROM pg_stat_activity WHERE state = 'idle'`), put a pooler (PgBouncer) in front, or raise max_connections",
  },
  inputs: ['pg_instance'],
  thresholds: {
    warning: {
      default: 80,
      unit: '%',
      help: 'share of usable connections (max_connections minus reserved) in use',
      min: 1,
      max: 100,
    },
    critical: { default: 95, unit: '%', help: 'share of usable connections in use', min: 1, max: 100 },
    for_s: {
      ...forSpec,
      help: 'how long the share must stay over `warning` before it warns (critical is raised at once)',
    },
  },
  evaluate(input, t) {
    const rows = input.latest('pg_instance');
    const row = rows[rows.length - 1];
    if (row?.up !== true) return [];
    const max = num(row.max_connections);
    // pg_instance.backends counts every server process; client backends are what the limit is about.
    const groups = input.latest('pg_activity').filter((r) => r.backend_type === 'client backend');
    const clients =
      groups.length > 0 ? groups.reduce((n, r) => n + (num(r.count) ?? 0), 0) : num(row.backends);
    if (max === null || clients === null || max <= 0) return [];
    const reserved =
      (num(input.setting('superuser_reserved_connections')) ?? 3) +
      (num(input.setting('reserved_connections')) ?? 0);
    const usable = Math.max(1, max - reserved);
    const pct = (100 * clients) / usable;
    // How long the share has stayed over `warning`: every collection of the batch, oldest first (a batch
    // can carry minutes of them after the agent could not send), counted like the latest one.
    const clientsAt = new Map<number, number>();
    for (const r of input.rows('pg_activity')) {
      const ts = num(r.ts);
      if (ts !== null && r.backend_type === 'client backend')
        clientsAt.set(ts, (clientsAt.get(ts) ?? 0) + (num(r.count) ?? 0));
    }
    let heldS = 0;
    for (const r of input.rows('pg_instance')) {
      const ts = num(r.ts);
      if (ts === null) continue;
      const n = r.up === true ? (clientsAt.get(ts) ?? num(r.backends)) : null;
      const over = n !== null && grade((100 * n) / usable, t) !== null;
      heldS = input.since('pg.connections|warning', over, ts);
    }
    const graded = grade(pct, t);
    const severity = graded === 'critical' || (graded !== null && heldS >= (t.for_s ?? 0)) ? graded : null;
    if (!severity) return [];
    const top = [...groups]
      .sort((a, b) => (num(b.count) ?? 0) - (num(a.count) ?? 0))
      .slice(0, 5)
      .map((r) => ({
        datname: str(r.datname),
        usename: str(r.usename),
        application: str(r.application_name),
        state: str(r.state),
        count: num(r.count),
      }));
    return [
      {
        object: '',
        severity,
        title: `Connections at ${Math.round(pct)} % of the usable limit`,
        explanation: `${clients} client connections are open out of ${usable} usable (max_connections ${max} minus ${reserved} reserved)${heldS > 0 ? `, over ${t.warning} % for ${humanSeconds(heldS)}` : ''}. When they run out, new connections fail with "sorry, too many clients already".`,
        evidence: {
          clients,
          max_connections: max,
          reserved,
          usable,
          used_pct: round2(pct),
          held_s: Math.round(heldS),
          largest_groups: top,
        },
        action: `SELECT pid, usename, application_name, client_addr, state, now() - state_change AS in_state FROM pg_stat_activity WHERE backend_type = 'client backend' ORDER BY state_change LIMIT 20; -- then close idle sessions, add a pooler, or: ALTER SYSTEM SET max_connections = ${Math.ceil((max * 1.5) / 10) * 10}; (restart needed)`,
        value: round2(pct),
      },
    ];
  },
};

export const postgresInstanceChecks = [pgDown, pgConnections];
