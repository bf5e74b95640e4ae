/**
 * PostgreSQL memory settings that do not fit the machine, on ingest: the target's settings (the newest
 * pg_settings snapshot, remembered per target) against the host's memory (host_memory of the same server,
 * remembered per server). Evaluated on every collection (pg_instance), not only when the settings
 * snapshot is sent — it is sent only when it changes.
 *
 * pg_settings carries changed settings (and, from newer agents, a fixed list at their default). A setting
 * missing from a known snapshot is at its built-in default, which this file knows for the settings it
 * reads — and says so in the evidence (`assumed_default`). Without any snapshot nothing is said.
 * random_page_cost is not judged: whether the storage is SSD cannot be told from here.
 */
import { embeddedClusterName } from '../../storage/embedded.js';
import { psqlCommand, serviceOf } from './psql.js';
import type { Draft, IngestCheck, ScopeRows } from './types.js';
import { humanBytes, literal, num, round2 } from './util.js';

const kB = 1024;
const MB = 1024 * kB;
const GB = 1024 * MB;

interface MemorySetting {
  name: string;
  /** Bytes per unit of pg_settings.setting (8 kB pages, kB). */
  unit: number;
  /** PostgreSQL's built-in default, in units. */
  builtin: number;
}

const sharedBuffers: MemorySetting = { name: 'shared_buffers', unit: 8 * kB, builtin: 16_384 };
const effectiveCacheSize: MemorySetting = { name: 'effective_cache_size', unit: 8 * kB, builtin: 524_288 };
const maintenanceWorkMem: MemorySetting = { name: 'maintenance_work_mem', unit: kB, builtin: 65_536 };

/**
 * Settings a server's configuration file nearly always sets (initdb writes them): when none is known, no
 * snapshot has been seen for the target and a missing setting says nothing.
 */
const usuallyChanged = [
  'max_connections',
  'shared_buffers',
  'max_wal_size',
  'min_wal_size',
  'dynamic_shared_memory_type',
  'log_timezone',
  'TimeZone',
  'DateStyle',
  'lc_messages',
  'default_text_search_config',
  'listen_addresses',
  'shared_preload_libraries',
];

interface Current {
  bytes: number;
  raw: string | null;
  assumedDefault: boolean;
}

function current(input: ScopeRows, s: MemorySetting): Current | null {
  const raw = input.setting(s.name);
  if (raw === undefined) {
    if (!usuallyChanged.some((n) => input.setting(n) !== undefined)) return null;
    return { bytes: s.builtin * s.unit, raw: null, assumedDefault: true };
  }
  const n = num(raw);
  return n === null || n < 0 ? null : { bytes: n * s.unit, raw, assumedDefault: false };
}

/** A size for ALTER SYSTEM, rounded down: whole GB from 1 GB, else MB in steps of 64. */
export function settingSize(bytes: number): string {
  if (bytes >= GB) return `${Math.floor(bytes / GB)}GB`;
  return `${Math.max(64, Math.floor(bytes / (64 * MB)) * 64)}MB`;
}

export const pgMemorySettings: IngestCheck = {
  id: 'pg.memory_settings',
  group: 'postgres',
  mode: 'ingest',
  scope: 'target',
  kind: 'recommendation',
  title: 'Memory settings left small for the machine',
  doc: {
    evidence:
      'the setting, its value in bytes (or that it is at its default), the host memory, the proposed value',
    action:
      "psql -c \"ALTER SYSTEM SET shared_buffers = '<25 % of RAM>';\" then a restart (effective_cache_size and maintenance_work_mem: SELECT pg_reload_conf()); `-p PORT` when the server is not on 5432, and a Debian cluster's own unit (`postgresql@15-main`). Not judged on pgvigil's own embedded store, which keeps its memory small beside what it watches",
  },
  inputs: ['pg_instance'],
  thresholds: {
    min_memory_bytes: {
      default: 4 * GB,
      unit: 'bytes',
      help: 'hosts with less memory are not judged',
      min: 0,
    },
    shared_buffers_min_pct: {
      default: 5,
      unit: '%',
      help: 'shared_buffers below this share of memory (or at its 128MB default) is too small',
      min: 0,
      max: 100,
    },
    shared_buffers_target_pct: {
      default: 25,
      unit: '%',
      help: 'share of memory proposed for shared_buffers',
      min: 1,
      max: 80,
    },
    effective_cache_size_min_pct: {
      default: 25,
      unit: '%',
      help: 'effective_cache_size below this share of memory is far below what the OS can cache',
      min: 0,
      max: 100,
    },
    effective_cache_size_target_pct: {
      default: 75,
      unit: '%',
      help: 'share of memory proposed for effective_cache_size',
      min: 1,
      max: 100,
    },
    maintenance_work_mem_min_memory_bytes: {
      default: 16 * GB,
      unit: 'bytes',
      help: 'hosts from this size on should not keep the 64MB default maintenance_work_mem',
      min: 0,
    },
  },
  evaluate(input, t) {
    const rows = input.latest('pg_instance');
    if (rows[rows.length - 1]?.up !== true) return [];
    // pgvigil's own embedded store keeps PostgreSQL's small defaults on purpose: it shares its machine with
    // what it watches (an external store is sized like any server: docs/capacity.md).
    if (input.setting('cluster_name') === embeddedClusterName) return [];
    const ram = input.host.memoryTotalBytes;
    if (ram === undefined || !(ram > 0) || ram < t.min_memory_bytes!) return [];
    const out: Draft[] = [];
    const draft = (
      s: MemorySetting,
      cur: Current,
      proposed: number,
      why: string,
      restart: boolean,
    ): Draft => {
      const value = settingSize(proposed);
      const statements = [`ALTER SYSTEM SET ${s.name} = ${literal(value)};`];
      if (!restart) statements.push('SELECT pg_reload_conf();');
      const shown = cur.assumedDefault ? `its default of ${humanBytes(cur.bytes)}` : humanBytes(cur.bytes);
      return {
        object: s.name,
        severity: 'info',
        title: `${s.name} is ${humanBytes(cur.bytes)} on a host with ${humanBytes(ram)} of memory`,
        explanation: `${s.name} is ${shown} (${round2((100 * cur.bytes) / ram)} % of the host's ${humanBytes(ram)}). ${why} Proposed: ${value}${restart ? ' — this one takes a server restart to apply' : ' (a reload applies it)'}.`,
        evidence: {
          setting: s.name,
          value_bytes: cur.bytes,
          setting_raw: cur.raw,
          assumed_default: cur.assumedDefault,
          ...(cur.assumedDefault
            ? { note: 'not in the settings snapshot, which lists changed settings: at its built-in default' }
            : {}),
          memory_total_bytes: ram,
          share_pct: round2((100 * cur.bytes) / ram),
          proposed: value,
          restart_needed: restart,
        },
        action:
          psqlCommand(null, statements, input) +
          (restart ? ` && sudo systemctl restart ${serviceOf(input)}  # restart needed` : ''),
        value: cur.bytes,
      };
    };
    const sb = current(input, sharedBuffers);
    if (
      sb &&
      (sb.bytes <= sharedBuffers.builtin * sharedBuffers.unit ||
        sb.bytes < (t.shared_buffers_min_pct! / 100) * ram)
    ) {
      const proposed = (t.shared_buffers_target_pct! / 100) * ram;
      if (proposed > sb.bytes)
        out.push(
          draft(
            sharedBuffers,
            sb,
            proposed,
            'PostgreSQL keeps its working set in shared_buffers; this small a cache sends most reads to the OS and the disks.',
            true,
          ),
        );
    }
    const ecs = current(input, effectiveCacheSize);
    if (ecs && ecs.bytes < (t.effective_cache_size_min_pct! / 100) * ram) {
      out.push(
        draft(
          effectiveCacheSize,
          ecs,
          (t.effective_cache_size_target_pct! / 100) * ram,
          'The planner uses it as the memory available for caching data (shared_buffers plus the OS cache); far below the real figure, it prices index scans too high and prefers sequential scans.',
          false,
        ),
      );
    }
    const mwm = current(input, maintenanceWorkMem);
    if (
      mwm &&
      ram >= t.maintenance_work_mem_min_memory_bytes! &&
      mwm.bytes <= maintenanceWorkMem.builtin * maintenanceWorkMem.unit
    ) {
      out.push(
        draft(
          maintenanceWorkMem,
          mwm,
          Math.min(GB, 0.05 * ram),
          'VACUUM, CREATE INDEX and ALTER TABLE ADD FOREIGN KEY work in this much memory; at 64MB vacuum of a big table makes many passes over its indexes. Each autovacuum worker may use as much (autovacuum_work_mem = -1).',
          false,
        ),
      );
    }
    return out;
  },
};

export const postgresSettingsChecks = [pgMemorySettings];
