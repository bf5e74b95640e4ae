/**
 * Tables and indexes of a target from the agent's newest snapshot (sent every minute or so, whatever the
 * page's time range), as pganalyze's table pages: size, dead rows and a bloat estimate, vacuum and analyze
 * ages, sequential versus index scans; indexes with their use, unused and duplicate ones.
 *
 * Filters (database, schema, name) and each table's sort live in the URL: `db`, `schema`, `q`,
 * `tsort`/`tdir` for tables and `isort`/`idir`/`unused` for indexes.
 */

import { fetchIndexes, fetchTables, type IndexRow, type TableRow } from '../../api';
import { type SortDir, SortHeader } from '../../components/SortHeader';
import { Badge, Empty, ErrorBox, Loading, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge, formatValue } from '../../format';
import { samples, useLiveReload } from '../../live';
import { setQuery, useLocation } from '../../router';
import type { TargetParams } from '../Postgres';

type Value = string | number | null;
interface Column<R> {
  key: string;
  label: string;
  num?: boolean;
  title?: string;
  /** What the column sorts by (null last whatever the direction). */
  sortBy: (r: R) => Value;
}

/** Newest of two ISO times (null when both are). */
function newest(a: string | null, b: string | null): string | null {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

const ms = (t: string | null) => (t ? Date.parse(t) : null);

const tableColumns: Column<TableRow>[] = [
  { key: 'name', label: 'Table', sortBy: (t) => `${t.datname}.${t.schemaname}.${t.relname}` },
  {
    key: 'size',
    label: 'Size',
    num: true,
    title: 'table, TOAST and indexes',
    sortBy: (t) => t.total_bytes,
  },
  { key: 'rows', label: 'Live rows', num: true, title: 'estimated', sortBy: (t) => t.n_live_tup },
  {
    key: 'dead',
    label: 'Dead %',
    num: true,
    title: 'dead rows as a share of all rows',
    sortBy: (t) => t.dead_pct,
  },
  {
    key: 'bloat',
    label: 'Bloat (est.)',
    num: true,
    title: 'table size × dead rows / all rows',
    sortBy: (t) => t.bloat_bytes_estimate,
  },
  {
    key: 'vacuum',
    label: 'Last vacuum',
    num: true,
    title: 'newest of manual vacuum and autovacuum',
    sortBy: (t) => ms(newest(t.last_vacuum, t.last_autovacuum)),
  },
  {
    key: 'analyze',
    label: 'Last analyze',
    num: true,
    title: 'newest of manual analyze and autoanalyze',
    sortBy: (t) => ms(newest(t.last_analyze, t.last_autoanalyze)),
  },
  { key: 'seq', label: 'Seq scans', num: true, title: 'since statistics reset', sortBy: (t) => t.seq_scan },
  { key: 'idx', label: 'Index scans', num: true, title: 'since statistics reset', sortBy: (t) => t.idx_scan },
];

const indexColumns: Column<IndexRow>[] = [
  { key: 'name', label: 'Index', sortBy: (i) => `${i.datname}.${i.schemaname}.${i.indexrelname}` },
  { key: 'table', label: 'Table', sortBy: (i) => `${i.datname}.${i.schemaname}.${i.relname}` },
  { key: 'size', label: 'Size', num: true, sortBy: (i) => i.size_bytes },
  { key: 'scans', label: 'Scans', num: true, title: 'since statistics reset', sortBy: (i) => i.idx_scan },
];

/** Rows sorted by a column, nulls last in either direction; ties keep the API's order (largest first). */
function sorted<R>(rows: readonly R[], col: Column<R>, dir: SortDir): R[] {
  const sign = dir === 'asc' ? 1 : -1;
  return rows
    .map((r, i) => ({ r, i, v: col.sortBy(r) }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : a.v === null ? 1 : -1;
      const c =
        typeof a.v === 'number' && typeof b.v === 'number'
          ? a.v - b.v
          : String(a.v).localeCompare(String(b.v));
      return c === 0 ? a.i - b.i : sign * c;
    })
    .map((x) => x.r);
}

/** The sort a table's URL parameters name: a known column (else the default) and its direction. */
function sortOf<R>(cols: Column<R>[], key: string | null, dir: string | null, fallback: string) {
  const col = cols.find((c) => c.key === key) ?? cols.find((c) => c.key === fallback)!;
  const d: SortDir =
    dir === 'asc' || dir === 'desc' ? dir : col.key === 'name' || col.key === 'table' ? 'asc' : 'desc';
  return { col, dir: d };
}

/** Clicking a header: sort by it (names ascending, numbers largest first); clicking it again reverses. */
function onSort<R>(
  current: { col: Column<R>; dir: SortDir },
  col: Column<R>,
  keyParam: string,
  dirParam: string,
) {
  const natural: SortDir = col.num ? 'desc' : 'asc';
  const dir = current.col.key === col.key ? (current.dir === 'asc' ? 'desc' : 'asc') : natural;
  setQuery({ [keyParam]: col.key, [dirParam]: dir === natural ? undefined : dir });
}

interface Filters {
  db: string;
  schema: string;
  q: string;
}

function matches(
  f: Filters,
  r: { datname: string; schemaname: string; relname: string; indexrelname?: string },
) {
  if (f.db && r.datname !== f.db) return false;
  if (f.schema && r.schemaname !== f.schema) return false;
  const q = f.q.toLowerCase();
  if (q && !r.relname.toLowerCase().includes(q) && !(r.indexrelname ?? '').toLowerCase().includes(q))
    return false;
  return true;
}

export function ObjectsSection({ server, target }: TargetParams) {
  const loc = useLocation();
  const tables = useData((signal) => fetchTables({ server, target }, signal), [server, target]);
  const indexes = useData((signal) => fetchIndexes({ server, target }, signal), [server, target]);
  useLiveReload(
    [server],
    samples,
    () => {
      tables.reload();
      indexes.reload();
    },
    30_000,
  );
  const f: Filters = {
    db: loc.query.get('db') ?? '',
    schema: loc.query.get('schema') ?? '',
    q: loc.query.get('q') ?? '',
  };
  const all = [...(tables.data?.tables ?? []), ...(indexes.data?.indexes ?? [])];
  const dbs = [...new Set(all.map((r) => r.datname))].sort();
  const schemas = [
    ...new Set(all.filter((r) => !f.db || r.datname === f.db).map((r) => r.schemaname)),
  ].sort();
  return (
    <>
      <form class="filters" aria-label="Filter tables and indexes" onSubmit={(e) => e.preventDefault()}>
        <label>
          Database{' '}
          <select
            value={f.db}
            onChange={(e) => setQuery({ db: (e.target as HTMLSelectElement).value }, { replace: true })}
          >
            <option value="">All databases</option>
            {dbs.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <label>
          Schema{' '}
          <select
            value={f.schema}
            onChange={(e) => setQuery({ schema: (e.target as HTMLSelectElement).value }, { replace: true })}
          >
            <option value="">All schemas</option>
            {schemas.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Name contains{' '}
          <input
            type="search"
            value={f.q}
            maxLength={63}
            onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value }, { replace: true })}
          />
        </label>
      </form>
      <TablesPanel data={tables.data} error={tables.error} loading={tables.loading} f={f} query={loc.query} />
      <IndexesPanel
        data={indexes.data}
        error={indexes.error}
        loading={indexes.loading}
        f={f}
        query={loc.query}
      />
    </>
  );
}

function snapshotNote(s: { ts: string | null } | undefined) {
  return s?.ts ? <span class="muted">snapshot {formatAge(s.ts)}</span> : null;
}

function TablesPanel(p: {
  data: { ts: string | null; tables: TableRow[] } | undefined;
  error: Error | undefined;
  loading: boolean;
  f: Filters;
  query: URLSearchParams;
}) {
  const sort = sortOf(tableColumns, p.query.get('tsort'), p.query.get('tdir'), 'size');
  const rows = p.data
    ? sorted(
        p.data.tables.filter((t) => matches(p.f, t)),
        sort.col,
        sort.dir,
      )
    : [];
  return (
    <Panel title="Tables" id="tables" actions={snapshotNote(p.data)}>
      <ErrorBox error={p.error} />
      {!p.data && p.loading ? <Loading what="tables" /> : null}
      {p.data && p.data.ts === null ? (
        <Empty>No tables snapshot yet: the agent sends one every minute.</Empty>
      ) : null}
      {p.data && p.data.ts !== null && rows.length === 0 ? (
        <Empty>No table matches the filters.</Empty>
      ) : null}
      {rows.length > 0 ? (
        <div class="table-wrap">
          <table class="objects">
            <thead>
              <tr>
                {tableColumns.map((c) => (
                  <SortHeader
                    key={c.key}
                    label={c.label}
                    num={c.num}
                    title={c.title}
                    active={c.key === sort.col.key ? sort.dir : undefined}
                    onSort={() => onSort(sort, c, 'tsort', 'tdir')}
                  />
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <TableLine key={`${t.datname}.${t.schemaname}.${t.relname}`} t={t} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p class="muted note">
        Bloat is an estimate: the table's size × dead rows ÷ all rows, from PostgreSQL's own row estimates
        (pg_stat_user_tables). Free space that earlier vacuums left behind is not seen, so real bloat can be
        larger; pgstattuple measures it. Scans count since the statistics were last reset.
      </p>
    </Panel>
  );
}

function TableLine({ t }: { t: TableRow }) {
  const vacuum = newest(t.last_vacuum, t.last_autovacuum);
  const analyze = newest(t.last_analyze, t.last_autoanalyze);
  const seqShare =
    t.seq_scan !== null && t.idx_scan !== null && t.seq_scan + t.idx_scan > 0
      ? t.seq_scan / (t.seq_scan + t.idx_scan)
      : null;
  return (
    <tr>
      <th scope="row" class="objname">
        {t.schemaname}.{t.relname}
        <div class="muted small">{t.datname}</div>
      </th>
      <td
        class="num"
        title={`table ${formatValue('bytes', t.table_bytes)}, TOAST ${formatValue('bytes', t.toast_bytes)}, indexes ${formatValue('bytes', t.indexes_bytes)}`}
      >
        {formatValue('bytes', t.total_bytes)}
      </td>
      <td class="num">{formatValue('count', t.n_live_tup)}</td>
      <td class="num">
        {formatValue('percent', t.dead_pct)}
        {t.dead_pct !== null && t.dead_pct >= 20 ? <div class="warn-text small">many dead rows</div> : null}
      </td>
      <td class="num">{formatValue('bytes', t.bloat_bytes_estimate)}</td>
      <td class="num">
        {vacuum ? formatAge(vacuum) : 'never'}
        {vacuum && vacuum === t.last_autovacuum ? <span class="muted small"> auto</span> : null}
      </td>
      <td class="num">
        {analyze ? formatAge(analyze) : 'never'}
        {analyze && analyze === t.last_autoanalyze ? <span class="muted small"> auto</span> : null}
      </td>
      <td class="num">
        {formatValue('count', t.seq_scan)}
        {seqShare !== null ? <div class="muted small">{formatValue('ratio', seqShare)} of scans</div> : null}
      </td>
      <td class="num">{t.idx_scan === null ? 'no index' : formatValue('count', t.idx_scan)}</td>
    </tr>
  );
}

function IndexesPanel(p: {
  data: { ts: string | null; indexes: IndexRow[] } | undefined;
  error: Error | undefined;
  loading: boolean;
  f: Filters;
  query: URLSearchParams;
}) {
  const sort = sortOf(indexColumns, p.query.get('isort'), p.query.get('idir'), 'size');
  const onlyUnused = p.query.get('unused') === '1';
  const list = p.data?.indexes ?? [];
  const filtered = list.filter(
    (i) => matches(p.f, i) && (!onlyUnused || i.unused === true || Boolean(i.duplicate_of)),
  );
  const rows = sorted(filtered, sort.col, sort.dir);
  const unused = list.filter((i) => i.unused === true && matches(p.f, i));
  const unusedBytes = unused.reduce((a, i) => a + (i.size_bytes ?? 0), 0);
  return (
    <Panel
      title="Indexes"
      id="indexes"
      actions={
        <>
          {snapshotNote(p.data)}
          <label class="check">
            <input
              type="checkbox"
              checked={onlyUnused}
              onChange={(e) => setQuery({ unused: (e.target as HTMLInputElement).checked ? '1' : undefined })}
            />{' '}
            Only unused or duplicate
          </label>
        </>
      }
    >
      <ErrorBox error={p.error} />
      {!p.data && p.loading ? <Loading what="indexes" /> : null}
      {p.data && p.data.ts === null ? (
        <Empty>No indexes snapshot yet: the agent sends one every minute.</Empty>
      ) : null}
      {unused.length > 0 ? (
        <p class="index-hint">
          {unused.length} unused {unused.length === 1 ? 'index takes' : 'indexes take'}{' '}
          {formatValue('bytes', unusedBytes)}: never scanned since the statistics were last reset, and
          enforcing no primary key or uniqueness. Every write still maintains them. Before dropping one, check
          it is unused on the standbys too (their scans are not counted here) and that the statistics are not
          freshly reset.
        </p>
      ) : null}
      {p.data && p.data.ts !== null && rows.length === 0 ? (
        <Empty>No index matches the filters.</Empty>
      ) : null}
      {rows.length > 0 ? (
        <div class="table-wrap">
          <table class="objects">
            <thead>
              <tr>
                {indexColumns.map((c) => (
                  <SortHeader
                    key={c.key}
                    label={c.label}
                    num={c.num}
                    title={c.title}
                    active={c.key === sort.col.key ? sort.dir : undefined}
                    onSort={() => onSort(sort, c, 'isort', 'idir')}
                  />
                ))}
                <th scope="col">Status</th>
                <th scope="col">Definition</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((i) => (
                <IndexLine key={`${i.datname}.${i.schemaname}.${i.indexrelname}`} i={i} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Panel>
  );
}

function IndexLine({ i }: { i: IndexRow }) {
  return (
    <tr>
      <th scope="row" class="objname">
        {i.schemaname}.{i.indexrelname}
        <div class="muted small">{i.datname}</div>
      </th>
      <td>{i.relname}</td>
      <td class="num">{formatValue('bytes', i.size_bytes)}</td>
      <td class="num">{formatValue('count', i.idx_scan)}</td>
      <td class="status">
        {i.is_primary ? (
          <span class="tag">primary key</span>
        ) : i.is_unique ? (
          <span class="tag">unique</span>
        ) : null}
        {i.unused ? <Badge value="unused" /> : null}
        {i.is_valid === false ? <Badge value="invalid" /> : null}
        {i.duplicate_of ? (
          <div class="small">
            <Badge value="duplicate" /> of <code>{i.duplicate_of}</code>
          </div>
        ) : null}
      </td>
      <td>
        <code class="small">{i.definition ?? '—'}</code>
      </td>
    </tr>
  );
}
