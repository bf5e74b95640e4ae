/**
 * Replication on ingest: slots that retain WAL (inactive, lagging, lost, or holding more than the disk can
 * spare) and standbys that lag, seen from the primary (pg_replication) or on the standby (pg_standby).
 */
import { pgSize, snapshot, targetIngest, worst, worstFirst } from './postgres-rows.js';
import type { Draft, IngestCheck, Row, ScopeRows } from './types.js';
import { cut, grade, humanBytes, humanSeconds, literal, num, round2, str } from './util.js';

const GiB = 1024 ** 3;

/** The largest filesystem of the host (by size): where a database's WAL most likely lives. */
function largestFilesystem(input: ScopeRows) {
  let best: { mountpoint: string; availBytes: number; sizeBytes: number } | undefined;
  for (const f of input.host.filesystems ?? []) if (!best || f.sizeBytes > best.sizeBytes) best = f;
  return best;
}

function slotAction(r: Row, name: string, input: ScopeRows): string {
  const slot = literal(name);
  const physical = str(r.slot_type) === 'physical';
  const consumer = physical
    ? `the standby that streams with primary_slot_name = ${slot} (it must then be re-cloned with pg_basebackup if it needs the WAL)`
    : `the subscription or CDC tool reading it in database ${cut(r.datname, 200) || '?'} (it must be re-synced)`;
  const lines = [`-- dropping the slot breaks ${consumer}`];
  if (r.active === true) {
    lines.push(
      '-- its consumer is connected but does not keep up: fix the consumer first; if it is abandoned, disconnect it:',
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = ${slot};`,
    );
  }
  lines.push(`SELECT pg_drop_replication_slot(${slot});`);
  const keep = input.setting('max_slot_wal_keep_size');
  const fs = largestFilesystem(input);
  if ((keep === undefined || keep === '-1') && fs && fs.availBytes > 0) {
    lines.push(
      '-- and cap what any slot may keep, so a lost consumer cannot fill the disk:',
      `ALTER SYSTEM SET max_slot_wal_keep_size = '${pgSize(Math.max(GiB, Math.floor(fs.availBytes / 4 / GiB) * GiB))}'; SELECT pg_reload_conf();`,
    );
  }
  return lines.join('\n');
}

export const pgReplicationSlot: IngestCheck = {
  id: 'pg.replication_slot',
  ...targetIngest,
  kind: 'alert',
  title: 'Replication slot retaining WAL',
  doc: {
    evidence:
      'slot, type, database, active, WAL retained (bytes), wal_status, safe_wal_size, the largest host filesystem and its free space',
    action:
      "`SELECT pg_drop_replication_slot('name');` once its consumer is known to be gone (a standby must be re-cloned, a logical consumer re-synced), and `max_slot_wal_keep_size`",
  },
  inputs: ['pg_instance', 'pg_replication_slots'],
  thresholds: {
    inactive_bytes: {
      default: GiB,
      unit: 'bytes',
      help: 'WAL retained by an inactive slot (warning)',
      min: 0,
    },
    lagging_bytes: {
      default: 10 * GiB,
      unit: 'bytes',
      help: 'WAL retained by any slot, active or not (warning)',
      min: 0,
    },
    disk_pct: {
      default: 50,
      unit: '%',
      help: 'WAL retained as a share of the free space of the largest host filesystem (critical)',
      min: 0,
    },
  },
  evaluate(input, t) {
    const rows = snapshot(input, 'pg_replication_slots');
    if (!rows) return [];
    const fs = largestFilesystem(input);
    const out: Draft[] = [];
    for (const r of rows.slice(0, 500)) {
      const name = cut(r.slot_name, 200);
      const retained = num(r.retained_bytes);
      const walStatus = cut(r.wal_status, 50);
      const active = r.active === true;
      const diskPct = fs && retained !== null && fs.availBytes > 0 ? (100 * retained) / fs.availBytes : null;
      const lost = walStatus === 'lost' || walStatus === 'unreserved';
      const severity = worst(
        lost ? 'critical' : null,
        grade(diskPct, t, { critical: 'disk_pct' }),
        active ? null : grade(retained, t, { warning: 'inactive_bytes' }),
        grade(retained, t, { warning: 'lagging_bytes' }),
      );
      if (!severity) continue;
      const size = retained === null ? 'an unknown amount of' : humanBytes(retained);
      const title = lost
        ? `Replication slot ${name} is ${walStatus === 'lost' ? 'lost' : 'about to lose its WAL'} (wal_status ${walStatus})`
        : `${active ? 'Slot' : 'Inactive slot'} ${name} retains ${size} of WAL${diskPct !== null && diskPct >= 1 ? ` (${Math.round(diskPct)} % of the free space on ${fs!.mountpoint})` : ''}`;
      const explanation = lost
        ? walStatus === 'lost'
          ? `The WAL that slot ${name} needs has been removed (max_slot_wal_keep_size): its consumer can no longer continue from it and must be re-synced; the slot itself is useless now.`
          : `Slot ${name} retains more WAL than max_slot_wal_keep_size allows: at the next checkpoint the WAL it needs is removed and its consumer must be re-synced.`
        : `PostgreSQL keeps every WAL segment from the slot's restart point on until its consumer confirms it${active ? '; the consumer is connected but falls behind' : ', and no consumer is connected'}. ${size} is kept now and it grows with every write: when the disk holding pg_wal fills, PostgreSQL stops.`;
      out.push({
        object: `slot:${name}`,
        severity,
        title,
        explanation,
        evidence: {
          slot_name: name,
          slot_type: cut(r.slot_type, 50),
          datname: cut(r.datname, 200),
          active,
          retained_bytes: retained,
          confirmed_flush_lag_bytes: num(r.confirmed_flush_lag_bytes),
          wal_status: walStatus,
          safe_wal_size_bytes: num(r.safe_wal_size_bytes),
          filesystem: fs ? { ...fs } : null,
          retained_of_free_pct: diskPct === null ? null : round2(diskPct),
        },
        action: slotAction(r, name, input),
        value: retained,
      });
    }
    return worstFirst(out);
  },
};

export const pgReplicationLag: IngestCheck = {
  id: 'pg.replication_lag',
  ...targetIngest,
  kind: 'alert',
  title: 'Standby replication lag',
  doc: {
    evidence:
      'per standby: application_name, address, state, sync_state, lag in bytes (sent, write, flush, replay) and seconds; on a standby: receiver status, replay lag, replay paused',
    action:
      'on the standby: `SELECT now() - pg_last_xact_replay_timestamp(), pg_is_wal_replay_paused();`, its long queries, its disk and network; `SELECT pg_wal_replay_resume();` when paused',
  },
  inputs: ['pg_instance', 'pg_replication', 'pg_standby'],
  thresholds: {
    warning: { default: 10, unit: 's', help: 'replay lag of a standby', min: 0 },
    critical: { default: 30, unit: 's', help: 'replay lag of a standby', min: 0 },
    warning_bytes: { default: GiB, unit: 'bytes', help: 'WAL not yet replayed by a standby', min: 0 },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const seen = new Set<string>();
    for (const r of (snapshot(input, 'pg_replication') ?? []).slice(0, 200)) {
      const app = cut(r.application_name, 200);
      const addr = cut(r.client_addr, 100);
      const object = `standby:${app || addr || 'local'}${app && addr ? `@${addr}` : ''}`;
      if (seen.has(object)) continue;
      const lagS = num(r.replay_lag_s);
      const lagBytes = num(r.replay_lag_bytes);
      const severity = worst(grade(lagS, t), grade(lagBytes, t, { warning: 'warning_bytes' }));
      if (!severity) continue;
      seen.add(object);
      const name = app || addr || 'standby';
      out.push({
        object,
        severity,
        title: `Standby ${name} is ${lagS !== null ? humanSeconds(lagS) : humanBytes(lagBytes ?? 0)} behind`,
        explanation: `Standby ${name} (${str(r.state) || '?'}, ${str(r.sync_state) || '?'}) has not replayed ${humanBytes(lagBytes ?? 0)} of WAL${lagS !== null ? `, ${humanSeconds(lagS)} behind` : ''}. Reads there are stale, a failover to it loses or waits for that much, and ${str(r.sync_state) === 'sync' ? 'as a synchronous standby it slows every commit here' : 'the WAL it still needs stays on this server'}.`,
        evidence: {
          application_name: app,
          client_addr: addr,
          pid: num(r.pid),
          state: cut(r.state, 50),
          sync_state: cut(r.sync_state, 50),
          sent_lag_bytes: num(r.sent_lag_bytes),
          write_lag_bytes: num(r.write_lag_bytes),
          flush_lag_bytes: num(r.flush_lag_bytes),
          replay_lag_bytes: lagBytes,
          write_lag_s: num(r.write_lag_s),
          flush_lag_s: num(r.flush_lag_s),
          replay_lag_s: lagS,
        },
        action:
          `SELECT application_name, client_addr, state, sync_state, write_lag, flush_lag, replay_lag FROM pg_stat_replication WHERE application_name = ${literal(app)};\n` +
          `-- on the standby ${name}: is replay paused, or held by a long query (max_standby_streaming_delay)?\n` +
          "SELECT now() - pg_last_xact_replay_timestamp() AS replay_delay, pg_is_wal_replay_paused() AS paused;\nSELECT pid, now() - query_start AS running, query FROM pg_stat_activity WHERE state = 'active' ORDER BY query_start LIMIT 10;",
        value: lagS ?? lagBytes,
      });
    }
    // On a standby: its own view of replay.
    const standby = (snapshot(input, 'pg_standby') ?? [])[0];
    if (standby) {
      const lagS = num(standby.replay_lag_s);
      const lagBytes = num(standby.receive_replay_lag_bytes);
      const paused = standby.replay_paused === true;
      const severity = worst(grade(lagS, t), grade(lagBytes, t, { warning: 'warning_bytes' }));
      if (severity) {
        out.push({
          object: 'replay',
          severity,
          title: `This standby's replay is ${lagS !== null ? humanSeconds(lagS) : humanBytes(lagBytes ?? 0)} behind${paused ? ' (paused)' : ''}`,
          explanation: `WAL received from ${cut(standby.sender, 200) || 'the primary'} is not replayed yet${paused ? ': replay is paused' : ''}. Queries here read data that old.`,
          evidence: {
            receiver_status: cut(standby.receiver_status, 50),
            sender: cut(standby.sender, 200),
            receive_replay_lag_bytes: lagBytes,
            replay_lag_s: lagS,
            replay_paused: paused,
          },
          action: paused
            ? 'SELECT pg_wal_replay_resume();'
            : "SELECT pid, now() - query_start AS running, wait_event_type, wait_event, query FROM pg_stat_activity WHERE state = 'active' ORDER BY query_start LIMIT 10;\n-- a long query here delays replay up to max_standby_streaming_delay; cancel it: SELECT pg_cancel_backend(<pid>);",
          value: lagS ?? lagBytes,
        });
      }
    }
    return out.slice(0, 10);
  },
};

export const postgresReplicationChecks = [pgReplicationSlot, pgReplicationLag];
