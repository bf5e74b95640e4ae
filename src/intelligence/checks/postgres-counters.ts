/**
 * PostgreSQL counters over the last interval, on ingest: deadlocks, rollback ratio, temporary files (with
 * work_mem advice), checkpoints requested more often than timed (with max_wal_size advice), backends doing
 * their own fsyncs, and the cache hit ratio. Each works on the delta between the newest sample of a series
 * and the previous one (ScopeRows.pairs): nothing on a first sample, nothing across a statistics reset,
 * and never the ratio since the last reset, which hides today behind months of history.
 */
import { delta, numericSetting, pgSize, snapshot, targetIngest, worst } from './postgres-rows.js';
import type { Draft, IngestCheck, Row, RowPair, ScopeRows } from './types.js';
import { cut, grade, humanBytes, humanSeconds, ident, literal, num, round2, str } from './util.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** Intervals longer than this (an agent back after a long gap) say nothing about "now" for volumes. */
const maxIntervalS = 3600;

function databasePairs(input: ScopeRows): RowPair[] {
  return input.pairs('pg_database').slice(0, 1000) as RowPair[];
}

const logHint =
  "-- the server log has each one with its statements: SELECT pg_current_logfile(); then grep -B 2 -A 12 'deadlock detected' on that file";

export const pgDeadlocks: IngestCheck = {
  id: 'pg.deadlocks',
  ...targetIngest,
  kind: 'alert',
  title: 'Deadlocks',
  doc: {
    evidence: 'per database: deadlocks in the interval, its length in seconds',
    action:
      "read the 'deadlock detected' entries of the server log (both statements are there), make transactions take locks in one order; `log_lock_waits = on`",
  },
  inputs: ['pg_database'],
  thresholds: {
    warning: { default: 0, unit: 'count', help: 'deadlocks in one interval above this', min: 0 },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    for (const p of databasePairs(input)) {
      const n = delta(p, 'deadlocks');
      if (grade(n, t, { warning: 'warning' }) === null || n === null) continue;
      const datname = cut(p.cur.datname, 200);
      out.push({
        object: `db:${datname}`,
        severity: 'warning',
        title: `${n} deadlock${n === 1 ? '' : 's'} in database ${datname} in the last ${humanSeconds(p.seconds)}`,
        explanation: `PostgreSQL found transactions waiting for each other's locks in ${datname} and rolled one of them back each time ("deadlock detected"). The application saw an error; it happens when transactions lock the same rows or tables in different orders.`,
        evidence: {
          datname,
          deadlocks: n,
          interval_s: round2(p.seconds),
          total_deadlocks: num(p.cur.deadlocks),
        },
        action: `${logHint}\n-- and log every lock wait longer than deadlock_timeout, to see the contention before it deadlocks:\nALTER SYSTEM SET log_lock_waits = on; SELECT pg_reload_conf();`,
        value: n,
      });
    }
    return out.slice(0, 20);
  },
};

export const pgRollbackRatio: IngestCheck = {
  id: 'pg.rollback_ratio',
  ...targetIngest,
  kind: 'alert',
  title: 'Many transactions rolled back',
  doc: {
    evidence: 'per database: commits and rollbacks in the interval, the rollback share',
    action:
      'find the errors behind them in the server log (or the application’s); a pool or driver that ends every transaction with ROLLBACK shows here too',
  },
  inputs: ['pg_database'],
  thresholds: {
    warning: {
      default: 10,
      unit: '%',
      help: 'rollbacks as a share of transactions in the interval',
      min: 0,
      max: 100,
    },
    min_transactions: {
      default: 100,
      unit: 'count',
      help: 'transactions in the interval below which the ratio says nothing',
      min: 1,
    },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    for (const p of databasePairs(input)) {
      const commits = delta(p, 'xact_commit');
      const rollbacks = delta(p, 'xact_rollback');
      if (commits === null || rollbacks === null) continue;
      const total = commits + rollbacks;
      if (total < (t.min_transactions ?? 100)) continue;
      const pct = (100 * rollbacks) / total;
      if (!grade(pct, t, { warning: 'warning' })) continue;
      const datname = cut(p.cur.datname, 200);
      out.push({
        object: `db:${datname}`,
        severity: 'warning',
        title: `${Math.round(pct)} % of transactions in ${datname} rolled back in the last ${humanSeconds(p.seconds)}`,
        explanation: `${rollbacks} of ${total} transactions in ${datname} ended in a rollback. Usually these are errors (constraint violations, serialization failures, deadlocks, timeouts) the application retries or loses; some drivers and pools also roll back every read-only transaction on purpose.`,
        evidence: {
          datname,
          commits,
          rollbacks,
          rollback_pct: round2(pct),
          deadlocks: delta(p, 'deadlocks'),
          interval_s: round2(p.seconds),
        },
        action: `-- the errors that abort transactions are in the server log (log_min_error_statement = error logs their statements): SELECT pg_current_logfile();\n-- explicit rollbacks by the application, if pg_stat_statements is installed:\nSELECT calls, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = ${literal(datname)}) AND query ILIKE 'rollback%' ORDER BY calls DESC LIMIT 5;`,
        value: round2(pct),
      });
    }
    return out.slice(0, 20);
  },
};

/** work_mem in kB to propose: twice the current one, kept under a quarter of RAM shared by max_connections. */
function proposedWorkMemKb(input: ScopeRows, currentKb: number): number {
  const maxConnections = numericSetting(input, 'max_connections', 100);
  const mem = input.host.memoryTotalBytes;
  const capKb = mem ? Math.floor(mem / 1024 / 4 / Math.max(1, maxConnections)) : Number.POSITIVE_INFINITY;
  return Math.min(currentKb * 2, Math.max(capKb, currentKb));
}

export const pgTempFiles: IngestCheck = {
  id: 'pg.temp_files',
  ...targetIngest,
  kind: 'recommendation',
  title: 'Sorts and hashes spilling to temporary files',
  doc: {
    evidence:
      'per database: temporary files and bytes in the interval, work_mem, the statements that wrote the most temporary blocks',
    action:
      "`ALTER SYSTEM SET work_mem = '…'; SELECT pg_reload_conf();` (twice the current value, capped by memory), or per role `ALTER ROLE … SET work_mem = '…';`",
  },
  inputs: ['pg_database', 'pg_statements'],
  thresholds: {
    info_bytes: {
      default: 100 * MiB,
      unit: 'bytes',
      help: 'temporary bytes written by a database in one interval',
      min: 0,
    },
    warning_bytes: {
      default: 10 * GiB,
      unit: 'bytes',
      help: 'temporary bytes written by a database in one interval',
      min: 0,
    },
    statement_blocks: {
      default: 10_000,
      unit: 'count',
      help: 'temporary blocks written by one statement in one interval',
      min: 0,
    },
  },
  evaluate(input, t) {
    const byDb = new Map<string, { pair?: RowPair; statements: Row[] }>();
    const entry = (d: string) => {
      let e = byDb.get(d);
      if (!e) {
        e = { statements: [] };
        byDb.set(d, e);
      }
      return e;
    };
    for (const p of databasePairs(input)) if (p.seconds <= maxIntervalS) entry(str(p.cur.datname)).pair = p;
    for (const r of (snapshot(input, 'pg_statements') ?? []).slice(0, 2000)) {
      if ((num(r.temp_blks_written) ?? 0) > 0) entry(str(r.datname)).statements.push(r);
    }
    const texts = new Map<string, string>();
    for (const r of input.rows('pg_statement_texts').slice(0, 2000)) {
      texts.set(`${str(r.queryid)}|${str(r.dbid)}|${str(r.userid)}`, cut(r.query));
    }
    const blockSize = numericSetting(input, 'block_size', 8192);
    const currentKb = numericSetting(input, 'work_mem', 4096);
    const proposedKb = proposedWorkMemKb(input, currentKb);
    const out: Draft[] = [];
    for (const [d, e] of [...byDb].slice(0, 100)) {
      const bytes = e.pair ? delta(e.pair, 'temp_bytes') : null;
      const files = e.pair ? delta(e.pair, 'temp_files') : null;
      const statements = e.statements
        .sort((a, b) => (num(b.temp_blks_written) ?? 0) - (num(a.temp_blks_written) ?? 0))
        .slice(0, 5);
      const heavy = statements.filter((s) =>
        grade(num(s.temp_blks_written), t, { info: 'statement_blocks' }),
      );
      const severity = worst(
        grade(bytes, t, { info: 'info_bytes', warning: 'warning_bytes' }),
        heavy.length > 0 ? 'info' : null,
      );
      if (!severity) continue;
      const datname = cut(d, 200);
      const role = str(heavy[0]?.usename ?? statements[0]?.usename);
      const raise = proposedKb > currentKb;
      const perRole = `ALTER ROLE ${role ? ident(role) : '<role>'} IN DATABASE ${ident(datname)} SET work_mem = '${pgSize(currentKb * 2 * 1024)}';`;
      const written = bytes ?? heavy.reduce((n, s) => n + (num(s.temp_blks_written) ?? 0) * blockSize, 0);
      out.push({
        object: `db:${datname}`,
        severity,
        title: `${humanBytes(written)} of temporary files in ${datname}${e.pair ? ` in the last ${humanSeconds(e.pair.seconds)}` : ''}`,
        explanation: `Sorts, hashes and materialisations that do not fit in work_mem (${pgSize(currentKb * 1024)} now) spill to temporary files on disk, which is many times slower than memory and adds I/O for everyone. A larger work_mem keeps them in memory — it applies per sort or hash node of each query, so it is raised with care, or only for the role that needs it.`,
        evidence: {
          datname,
          temp_files: files,
          temp_bytes: bytes,
          interval_s: e.pair ? round2(e.pair.seconds) : null,
          work_mem_kb: currentKb,
          proposed_work_mem_kb: raise ? proposedKb : currentKb * 2,
          memory_total_bytes: input.host.memoryTotalBytes ?? null,
          statements: statements.map((s) => ({
            queryid: str(s.queryid),
            usename: cut(s.usename, 200),
            calls: num(s.calls),
            temp_blks_written: num(s.temp_blks_written),
            mean_exec_time_ms: num(s.mean_exec_time_ms),
            query: texts.get(`${str(s.queryid)}|${str(s.dbid)}|${str(s.userid)}`) ?? null,
          })),
        },
        action: raise
          ? `ALTER SYSTEM SET work_mem = '${pgSize(proposedKb * 1024)}'; SELECT pg_reload_conf();\n-- or only for the role that spills:\n${perRole}`
          : `-- work_mem is already at a quarter of memory shared by max_connections: raise it only for the role that spills\n${perRole}`,
        value: written,
      });
    }
    return out.sort((a, b) => (b.value ?? 0) - (a.value ?? 0)).slice(0, 10);
  },
};

export const pgCheckpoints: IngestCheck = {
  id: 'pg.checkpoints',
  ...targetIngest,
  kind: 'recommendation',
  title: 'Checkpoints requested more often than timed',
  doc: {
    evidence:
      'requested and timed checkpoints in the interval, its length, WAL written, max_wal_size and checkpoint_timeout',
    action: "`ALTER SYSTEM SET max_wal_size = '<2× current>'; SELECT pg_reload_conf();`",
  },
  inputs: ['pg_bgwriter'],
  thresholds: {
    min_requested: {
      default: 2,
      unit: 'count',
      help: 'requested checkpoints in one interval, at least (and more than timed ones)',
      min: 1,
    },
  },
  evaluate(input, t) {
    const p = input.pairs('pg_bgwriter')[0];
    if (!p || p.seconds > maxIntervalS) return [];
    const requested = delta(p, 'checkpoints_req');
    const timed = delta(p, 'checkpoints_timed') ?? 0;
    if (requested === null || requested < (t.min_requested ?? 2) || requested <= timed) return [];
    const maxWalMb = numericSetting(input, 'max_wal_size', 1024);
    const wal = input.pairs('pg_wal')[0];
    const walBytes = wal ? delta(wal, 'lsn_bytes') : null;
    return [
      {
        object: '',
        severity: 'info',
        title: `${requested} checkpoints requested and ${timed} timed in the last ${humanSeconds(p.seconds)}`,
        explanation: `Checkpoints came from WAL volume reaching max_wal_size (${pgSize(maxWalMb * MiB)}) or from explicit requests (CHECKPOINT, base backups, CREATE DATABASE), not from checkpoint_timeout. Frequent checkpoints write the same pages again and again and fill WAL with full-page images after each; a larger max_wal_size spaces them out (at the cost of a longer crash recovery). If the requests were manual, this can be ignored.`,
        evidence: {
          checkpoints_req: requested,
          checkpoints_timed: timed,
          interval_s: round2(p.seconds),
          wal_bytes: walBytes,
          max_wal_size_mb: maxWalMb,
          checkpoint_timeout_s: numericSetting(input, 'checkpoint_timeout', 300),
        },
        action: `ALTER SYSTEM SET max_wal_size = '${pgSize(maxWalMb * 2 * MiB)}'; SELECT pg_reload_conf();`,
        value: requested,
      },
    ];
  },
};

export const pgBackendFsync: IngestCheck = {
  id: 'pg.backend_fsync',
  ...targetIngest,
  kind: 'alert',
  title: 'Backends doing their own fsyncs',
  doc: {
    evidence: 'buffers_backend_fsync in the interval (PostgreSQL 16 and older), buffers written by backends',
    action:
      'check the storage latency (`iostat -x 5 3`) and the checkpointer; spread checkpoints (checkpoint_completion_target, max_wal_size)',
  },
  inputs: ['pg_bgwriter'],
  thresholds: {
    warning: { default: 0, unit: 'count', help: 'backend fsyncs in one interval above this', min: 0 },
  },
  evaluate(input, t) {
    const p = input.pairs('pg_bgwriter')[0];
    if (!p) return [];
    const fsyncs = delta(p, 'buffers_backend_fsync');
    if (!grade(fsyncs, t) || fsyncs === null) return [];
    return [
      {
        object: '',
        severity: 'warning',
        title: `Backends had to fsync ${fsyncs} time${fsyncs === 1 ? '' : 's'} themselves in the last ${humanSeconds(p.seconds)}`,
        explanation:
          "The checkpointer's queue of fsync requests was full, so backends running queries synced files themselves and waited for the disk. That points at storage that cannot keep up, or a checkpointer that is stuck.",
        evidence: {
          buffers_backend_fsync: fsyncs,
          buffers_backend: delta(p, 'buffers_backend'),
          interval_s: round2(p.seconds),
        },
        action:
          "iostat -x 5 3\n-- and the checkpointer's share of writes: SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend, buffers_backend_fsync FROM pg_stat_bgwriter;",
        value: fsyncs,
      },
    ];
  },
};

export const pgCacheHit: IngestCheck = {
  id: 'pg.cache_hit',
  ...targetIngest,
  kind: 'alert',
  title: 'Low cache hit ratio over the last interval',
  doc: {
    evidence: 'per database: blocks hit and read in the interval, the hit ratio, shared_buffers, host memory',
    action:
      'find the statements that read most (`pg_stat_statements` by shared_blks_read); `ALTER SYSTEM SET shared_buffers = …` (restart) when it is small for the host',
  },
  inputs: ['pg_database'],
  thresholds: {
    info: {
      default: 95,
      unit: '%',
      help: 'blocks found in shared buffers, share of all blocks accessed',
      min: 0,
      max: 100,
    },
    warning: {
      default: 90,
      unit: '%',
      help: 'blocks found in shared buffers, share of all blocks accessed',
      min: 0,
      max: 100,
    },
    min_reads: {
      default: 1000,
      unit: 'count',
      help: 'blocks read in the interval below which the ratio says nothing',
      min: 0,
    },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const sharedBuffersBytes = numericSetting(input, 'shared_buffers', 16_384) * 8192;
    const mem = input.host.memoryTotalBytes;
    for (const p of databasePairs(input)) {
      const hit = delta(p, 'blks_hit');
      const read = delta(p, 'blks_read');
      if (hit === null || read === null || read < (t.min_reads ?? 1000)) continue;
      const pct = (100 * hit) / (hit + read);
      const severity = grade(pct, t, { info: 'info', warning: 'warning' }, true);
      if (!severity) continue;
      const datname = cut(p.cur.datname, 200);
      const small = mem !== undefined && sharedBuffersBytes < mem / 8;
      out.push({
        object: `db:${datname}`,
        severity,
        title: `Cache hit ratio of ${datname} at ${round2(pct)} % over the last ${humanSeconds(p.seconds)}`,
        explanation: `${read} of ${hit + read} blocks ${datname} needed in the interval were not in shared buffers and came from the OS cache or the disk. A low ratio means the working set does not fit in shared_buffers (${pgSize(sharedBuffersBytes)}), or that some statements scan much more than they need.`,
        evidence: {
          datname,
          blks_hit: hit,
          blks_read: read,
          hit_pct: round2(pct),
          interval_s: round2(p.seconds),
          shared_buffers_bytes: sharedBuffersBytes,
          memory_total_bytes: mem ?? null,
        },
        action:
          `SELECT queryid, calls, shared_blks_read, shared_blks_hit, left(query, 200) AS query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = ${literal(datname)}) ORDER BY shared_blks_read DESC LIMIT 10;` +
          (small
            ? `\n-- shared_buffers is small for this host (a quarter of memory is the usual start); takes effect after a restart:\nALTER SYSTEM SET shared_buffers = '${pgSize(Math.floor(mem / 4 / MiB) * MiB)}';`
            : ''),
        value: round2(pct),
      });
    }
    return out.slice(0, 20);
  },
};

export const postgresCounterChecks = [
  pgDeadlocks,
  pgRollbackRatio,
  pgTempFiles,
  pgCheckpoints,
  pgBackendFsync,
  pgCacheHit,
];
