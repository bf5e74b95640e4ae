/**
 * WAL archiving, on ingest (pg_archiver, from pg_stat_archiver). When archive_command fails, PostgreSQL
 * keeps retrying the same segment and archives nothing after it: base backups cannot be restored past
 * that point, point-in-time recovery stops there, and the unarchived WAL piles up in pg_wal until the disk
 * is full. Two situations:
 * - stuck: the last failure is newer than the last success (or nothing was ever archived): archiving is
 *   failing right now. Warning, critical once the last success is older than a threshold (or never was);
 * - intermittent: attempts failed during the interval but a segment was archived after them. Info.
 * Times come from the row (the server's clock), never from ours.
 */
import { delta, targetIngest } from './postgres-rows.js';
import type { Draft, IngestCheck, Row } from './types.js';
import { cut, humanSeconds, isoTime, ms, num, round2, str } from './util.js';

const diagnose = [
  'SELECT * FROM pg_stat_archiver;',
  'SHOW archive_command;  -- run it by hand as the postgres OS user, with %p = pg_wal/<last_failed_wal> and %f = <last_failed_wal>',
  "SELECT pg_current_logfile();  -- then: grep -A 3 'archive command failed' <that file>",
  "SELECT count(*) AS waiting, pg_size_pretty(count(*) * pg_size_bytes(current_setting('wal_segment_size'))) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready';",
].join('\n');

/** The evidence both situations show. */
function evidenceOf(r: Row, failedInInterval: number | null, intervalS: number | null) {
  return {
    archive_mode: str(r.archive_mode),
    archived_count: num(r.archived_count),
    failed_count: num(r.failed_count),
    failed_in_interval: failedInInterval,
    interval_s: intervalS === null ? null : round2(intervalS),
    last_archived_wal: r.last_archived_wal == null ? null : cut(r.last_archived_wal, 64),
    last_archived_time: isoTime(ms(r.last_archived_time)),
    last_archive_age_s: num(r.last_archive_age_s) === null ? null : round2(num(r.last_archive_age_s)!),
    last_failed_wal: r.last_failed_wal == null ? null : cut(r.last_failed_wal, 64),
    last_failed_time: isoTime(ms(r.last_failed_time)),
  };
}

export const pgWalArchiving: IngestCheck = {
  id: 'pg.wal_archiving',
  ...targetIngest,
  kind: 'alert',
  title: 'WAL archiving failing',
  doc: {
    evidence:
      'archive_mode, archived and failed counts, failures in the interval, the last archived and the last failed segment with their times, the age of the last success',
    action:
      '`SELECT * FROM pg_stat_archiver;`, `SHOW archive_command;` run by hand as the postgres user on the failed segment, the "archive command failed" lines of the server log, and the `.ready` segments waiting in pg_wal (`pg_ls_archive_statusdir()`)',
  },
  inputs: ['pg_archiver'],
  thresholds: {
    critical_s: {
      default: 3600,
      unit: 's',
      help: 'archiving stuck and the last success older than this (or none ever): critical',
      min: 0,
    },
  },
  evaluate(input, t) {
    const rows = input.latest('pg_archiver');
    const r = rows[rows.length - 1];
    if (!r || str(r.archive_mode) === 'off') return [];
    const pair = input.pairs('pg_archiver')[0];
    const failedInInterval = pair ? delta(pair, 'failed_count') : null;
    const intervalS = pair ? pair.seconds : null;
    const failedAt = ms(r.last_failed_time);
    const archivedAt = ms(r.last_archived_time);
    const evidence = evidenceOf(r, failedInInterval, intervalS);
    const failedWal = evidence.last_failed_wal ?? '?';
    if (failedAt !== null && (archivedAt === null || failedAt > archivedAt)) {
      const age = num(r.last_archive_age_s);
      const critical = age === null || age > (t.critical_s ?? 3600);
      const since =
        age === null
          ? 'no segment has ever been archived since the statistics were reset'
          : `the last segment was archived ${humanSeconds(age)} ago (${evidence.last_archived_wal})`;
      const d: Draft = {
        object: '',
        severity: critical ? 'critical' : 'warning',
        title: `WAL archiving is failing: ${failedWal} could not be archived, ${since}`,
        explanation: `archive_command failed on ${failedWal} (last at ${evidence.last_failed_time}, ${evidence.failed_count} failed attempts in all${failedInInterval === null ? '' : `, ${failedInInterval} in the last ${humanSeconds(intervalS!)}`}) and ${since}. PostgreSQL retries that segment and archives nothing after it until the command succeeds: a restore from the base backups cannot go past it, and the unarchived WAL stays in pg_wal until the disk holding it is full — then PostgreSQL stops.`,
        evidence,
        action: diagnose,
        value: age,
      };
      return [d];
    }
    if (failedInInterval !== null && failedInInterval > 0) {
      return [
        {
          object: '',
          severity: 'info',
          title: `archive_command failed ${failedInInterval} time${failedInInterval === 1 ? '' : 's'} in the last ${humanSeconds(intervalS!)}, then succeeded`,
          explanation: `The last failure (${failedWal}, at ${evidence.last_failed_time}) was followed by a success (${evidence.last_archived_wal}, at ${evidence.last_archived_time}): archiving works, with retries. An archive destination that fails now and then (network, space, permissions) is worth finding before it fails for good.`,
          evidence,
          action: diagnose,
          value: failedInInterval,
        },
      ];
    }
    return [];
  },
};

export const postgresArchiverChecks = [pgWalArchiving] as const;
