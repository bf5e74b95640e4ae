/**
 * What keeps VACUUM from cleaning up and freezing, on ingest: the xmin horizon held back by one of its
 * four holders (a session, a replication slot, a standby's hot_standby_feedback, a prepared transaction),
 * and transaction ID / multixact ages closing in on wraparound.
 */
import { activityGroup, snapshot, targetIngest, worst, worstFirst } from './postgres-rows.js';
import type { Draft, IngestCheck, Row } from './types.js';
import { cut, grade, humanSeconds, ident, literal, num, round2, shellWord, str } from './util.js';

const holders = ['session', 'replication_slot', 'standby', 'prepared_xact'] as const;
type Holder = (typeof holders)[number];

function millions(n: number): string {
  return n >= 1_000_000 ? `${round2(n / 1_000_000)} M` : String(Math.round(n));
}

/** Object, title subject and action for one holder row. */
function describeHolder(holder: Holder, r: Row): { object: string; who: string; action: string } {
  const id = cut(r.ident, 200);
  const datname = str(r.datname);
  switch (holder) {
    case 'session': {
      const pid = Number(id);
      const ok = Number.isSafeInteger(pid) && pid > 0;
      const g = activityGroup(r);
      return {
        object: `session:${id}`,
        who: `session ${id} (${g.usename || '?'}@${g.datname || '?'}, ${g.application_name || 'no application_name'})`,
        action: ok
          ? `SELECT pid, usename, application_name, client_addr, state, now() - xact_start AS xact_age, query FROM pg_stat_activity WHERE pid = ${pid};\n-- look first, then end it:\nSELECT pg_terminate_backend(${pid});`
          : 'SELECT pid, usename, state, now() - xact_start AS xact_age, query FROM pg_stat_activity WHERE backend_xmin IS NOT NULL ORDER BY age(backend_xmin) DESC LIMIT 5;',
      };
    }
    case 'replication_slot': {
      const active = str(r.state) === 'active';
      return {
        object: `slot:${id}`,
        who: `replication slot ${id}${active ? '' : ' (inactive)'}`,
        action:
          `SELECT slot_name, slot_type, database, active, active_pid, xmin, catalog_xmin FROM pg_replication_slots WHERE slot_name = ${literal(id)};\n` +
          (active
            ? `-- its consumer is connected but does not advance; if it is abandoned, disconnect it first:\nSELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = ${literal(id)};\n`
            : '') +
          `-- dropping it breaks its consumer (the standby or subscription using it must be re-synced):\nSELECT pg_drop_replication_slot(${literal(id)});`,
      };
    }
    case 'standby': {
      // ident is application_name/pid of the walsender: the pid changes on every reconnect.
      const name = cut(r.application_name, 200) || cut(r.client_addr, 100) || id;
      return {
        object: `standby:${name}`,
        who: `standby ${name} (hot_standby_feedback)`,
        action:
          `-- on the standby ${name}: its oldest queries hold the horizon here through hot_standby_feedback\n` +
          'SELECT pid, now() - xact_start AS xact_age, state, query FROM pg_stat_activity WHERE backend_xmin IS NOT NULL ORDER BY age(backend_xmin) DESC LIMIT 10;\n' +
          '-- end the long ones there (SELECT pg_terminate_backend(pid);), or stop the feedback (its queries may then be cancelled by recovery conflicts):\n' +
          'ALTER SYSTEM SET hot_standby_feedback = off; SELECT pg_reload_conf();',
      };
    }
    case 'prepared_xact':
      return {
        object: `prepared:${id}`,
        who: `prepared transaction ${id}`,
        action:
          `-- connected to database ${datname ? ident(datname) : '(its database)'}, after checking with the transaction manager that it is abandoned:\n` +
          `ROLLBACK PREPARED ${literal(id)};`,
      };
  }
}

export const pgXminHorizon: IngestCheck = {
  id: 'pg.xmin_horizon',
  ...targetIngest,
  kind: 'alert',
  title: 'The xmin horizon is held back',
  doc: {
    evidence:
      'which holder (session, replication slot, standby feedback, prepared transaction), its name or pid, how many transactions and seconds old, its database, user, application, address and statement',
    action:
      "per holder: `SELECT pg_terminate_backend(pid);`, `SELECT pg_drop_replication_slot('x');`, the standby's long queries or `hot_standby_feedback = off`, `ROLLBACK PREPARED 'gid';`",
  },
  inputs: ['pg_instance', 'pg_xmin_holders'],
  thresholds: {
    warning_xids: {
      default: 10_000_000,
      unit: 'count',
      help: 'transactions since the xmin the holder keeps',
      min: 0,
    },
    critical_xids: {
      default: 100_000_000,
      unit: 'count',
      help: 'transactions since the xmin the holder keeps',
      min: 0,
    },
    warning_age: {
      default: 3600,
      unit: 's',
      help: 'age of the holding transaction (sessions, prepared transactions)',
      min: 0,
    },
    critical_age: {
      default: 86_400,
      unit: 's',
      help: 'age of the holding transaction (sessions, prepared transactions)',
      min: 0,
    },
  },
  evaluate(input, t) {
    const rows = snapshot(input, 'pg_xmin_holders');
    if (!rows) return [];
    const out: Draft[] = [];
    for (const r of rows.slice(0, 200)) {
      const holder = str(r.holder) as Holder;
      if (!holders.includes(holder)) continue;
      const xids = num(r.xmin_age);
      const ageS = num(r.age_s);
      const severity = worst(
        grade(xids, t, { warning: 'warning_xids', critical: 'critical_xids' }),
        grade(ageS, t, { warning: 'warning_age', critical: 'critical_age' }),
      );
      if (!severity) continue;
      const d = describeHolder(holder, r);
      const how = [
        xids !== null ? `${millions(xids)} transactions` : null,
        ageS !== null ? `${humanSeconds(ageS)} old` : null,
      ]
        .filter(Boolean)
        .join(', ');
      out.push({
        object: d.object,
        severity,
        title: `The xmin horizon is held back by ${d.who}: ${how}`,
        explanation:
          `VACUUM cannot remove row versions that ${d.who} may still need, anywhere in the cluster (catalogs too): dead rows pile up, tables and indexes bloat, and freezing cannot advance, which in the end forces anti-wraparound vacuums. ${holder === 'replication_slot' ? 'A slot keeps its xmin until its consumer confirms progress, whether the consumer is connected or not.' : holder === 'prepared_xact' ? 'A prepared transaction survives restarts until it is committed or rolled back by hand.' : ''}`.trim(),
        evidence: {
          holder,
          ident: cut(r.ident, 200),
          xmin_age: xids,
          age_s: ageS === null ? null : round2(ageS),
          datname: cut(r.datname, 200),
          usename: cut(r.usename, 200),
          state: cut(r.state, 100),
          application_name: cut(r.application_name, 200),
          client_addr: cut(r.client_addr, 100),
          query: cut(r.query),
        },
        action: d.action,
        value: xids,
      });
    }
    return worstFirst(out);
  },
};

export const pgWraparound: IngestCheck = {
  id: 'pg.wraparound',
  ...targetIngest,
  kind: 'alert',
  title: 'Transaction ID or multixact age near wraparound',
  doc: {
    evidence:
      'per database: xid and multixact ages, each as a share of the 2^31 limit, and as a share of autovacuum_freeze_max_age',
    action:
      'freeze the oldest tables (`VACUUM (FREEZE, VERBOSE) schema.table;`) or the database (`vacuumdb --freeze --jobs 4 -d db`), after removing what holds the xmin horizon',
  },
  inputs: ['pg_instance', 'pg_wraparound'],
  // % of 2^31, not of autovacuum_freeze_max_age: passing freeze_max_age (200 M by default, 9.3 % of the
  // limit) only starts autovacuum's anti-wraparound pass, normal on a busy server. At 50 % the age is five
  // times that trigger, so freezing has been failing for a long while; at 80 % about 430 M transactions
  // remain before the server stops assigning transaction IDs (3 M before the limit), days on a busy one.
  thresholds: {
    warning: { default: 50, unit: '%', help: 'xid or multixact age as a share of 2^31', min: 0, max: 100 },
    critical: { default: 80, unit: '%', help: 'xid or multixact age as a share of 2^31', min: 0, max: 100 },
  },
  evaluate(input, t) {
    const rows = snapshot(input, 'pg_wraparound');
    if (!rows) return [];
    const out: Draft[] = [];
    for (const r of rows.slice(0, 1000)) {
      const xidPct = num(r.xid_wraparound_pct);
      const mxidPct = num(r.mxid_wraparound_pct);
      const pct = Math.max(xidPct ?? -1, mxidPct ?? -1);
      const severity = grade(pct < 0 ? null : pct, t);
      if (!severity) continue;
      const datname = cut(r.datname, 200);
      const which = (mxidPct ?? -1) > (xidPct ?? -1) ? 'multixact' : 'transaction ID';
      const vacuum =
        datname === 'template0'
          ? '-- template0 takes no connections: autovacuum freezes it itself once nothing holds the xmin horizon back (see pg.xmin_horizon).'
          : `-- in database ${ident(datname)}, the tables with the oldest ${which === 'multixact' ? 'relminmxid' : 'relfrozenxid'} first:\n` +
            `SELECT c.oid::regclass AS table_name, age(c.relfrozenxid) AS xid_age, mxid_age(c.relminmxid) AS mxid_age, pg_size_pretty(pg_total_relation_size(c.oid)) AS size FROM pg_class c WHERE c.relkind IN ('r', 'm', 't') ORDER BY ${which === 'multixact' ? 'mxid_age(c.relminmxid)' : 'age(c.relfrozenxid)'} DESC LIMIT 10;\n` +
            'VACUUM (FREEZE, VERBOSE) <table_name>;\n' +
            `-- or the whole database from the shell:\nvacuumdb --freeze --jobs 4 -d ${shellWord(datname)}`;
      out.push({
        object: `db:${datname}`,
        severity,
        title: `Database ${datname}: ${which} age at ${round2(pct)} % of the wraparound limit`,
        explanation: `The oldest unfrozen ${which} in ${datname} is ${round2(pct)} % of the way to the 2^31 limit. Autovacuum should have frozen it long ago (it starts at autovacuum_freeze_max_age); something stops it — usually a held xmin horizon, a cancelled or too slow anti-wraparound vacuum, or a huge table. Near the limit PostgreSQL refuses new transactions until the database is vacuumed.`,
        evidence: {
          datname,
          xid_age: num(r.xid_age),
          mxid_age: num(r.mxid_age),
          xid_wraparound_pct: xidPct,
          mxid_wraparound_pct: mxidPct,
          xid_freeze_max_pct: num(r.xid_freeze_max_pct),
        },
        action: vacuum,
        value: round2(pct),
      });
    }
    return out;
  },
};

export const postgresHorizonChecks = [pgXminHorizon, pgWraparound];
