/**
 * The overview (`/`): what is wrong now, then every server and its PostgreSQL targets with status, open
 * findings by severity and sparklines of CPU, memory, connections and TPS over the page's time range.
 *
 * One request per view: GET /fleet answers for the whole fleet at once, and search, status filter and
 * sorting work on that answer in the page (instant, with counts per status). Only when the fleet is larger
 * than one answer holds (`truncated`) do `q` and `status` go to the server instead. The list is virtualised
 * (components/VirtualList.tsx), so 1,000 servers cost the DOM of the twenty or so in view.
 *
 * URL state: `q` (search in server and target names), `status` (ok, degraded, silent, down; comma-separated),
 * `sort` (`name`; default worst first), and the time range.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  type FindingSummary,
  type FleetLine,
  type FleetServer,
  type FleetStatus,
  type FleetTarget,
  fetchAttentionFindings,
  fetchFleet,
  fleetStatuses,
} from '../api';
import { Layout } from '../components/Layout';
import { Sparkline } from '../components/Sparkline';
import { Badge, Empty, ErrorBox, Link, Loading, Panel } from '../components/ui';
import { VirtualList } from '../components/VirtualList';
import { useData } from '../data';
import { formatAge, formatValue, type Unit } from '../format';
import { useLiveReload } from '../live';
import { keepQuery, type Params, setQuery, useLocation } from '../router';
import { defaultFrom, rangeKey, useTimeRange } from '../time';

/** Worst first: the order of the status filter and of the default sort. */
const statusOrder: readonly FleetStatus[] = ['down', 'silent', 'degraded', 'ok'];
const statusRank: Record<FleetStatus, number> = { down: 0, silent: 1, degraded: 2, ok: 3 };
const statusHelp: Record<FleetStatus, string> = {
  down: 'a PostgreSQL target cannot be reached',
  silent: 'nothing received from its agent for 2 minutes',
  degraded: 'a collector, PostgreSQL family or pushed configuration is failing',
  ok: 'reporting, nothing failing',
};
/** Live messages that change what this page shows (samples come with the refresh tick instead). */
const liveTypes = ['agent_status', 'alert_fired', 'alert_resolved'] as const;
/** A reload of the fleet waits until the list has not been scrolled for this long. */
const scrollQuietMs = 1000;
/** The live feed takes at most 256 servers a connection: the worst ones are the likeliest to change. */
const maxLiveServers = 256;
/** Findings shown in the "what is wrong now" strip. */
const stripSize = 5;

/** The `status` query parameter: known statuses only, in their order; empty means all. */
export function parseStatuses(text: string | null): FleetStatus[] {
  if (!text) return [];
  const want = new Set(text.split(','));
  return fleetStatuses.filter((s) => want.has(s));
}

/** Whether a server or one of its targets has `needle` (lower case) in its name. */
function nameMatches(s: FleetServer, needle: string): boolean {
  if (!needle) return true;
  return (
    s.name.toLowerCase().includes(needle) || s.targets.some((t) => t.name.toLowerCase().includes(needle))
  );
}

function compareWorstFirst(a: FleetServer, b: FleetServer): number {
  return (
    statusRank[a.status] - statusRank[b.status] ||
    b.findings.critical - a.findings.critical ||
    b.findings.warning - a.findings.warning ||
    a.name.localeCompare(b.name)
  );
}

type Row = { kind: 'server'; s: FleetServer } | { kind: 'target'; s: FleetServer; t: FleetTarget };

/** The list's rows: each server, then one row per PostgreSQL target. */
function rowsOf(servers: readonly FleetServer[]): Row[] {
  const out: Row[] = [];
  for (const s of servers) {
    out.push({ kind: 'server', s });
    for (const t of s.targets) out.push({ kind: 'target', s, t });
  }
  return out;
}

/** The newest value of a sparkline that has one. */
function lastValue(line: FleetLine): number | null {
  for (let i = line.length - 1; i >= 0; i--) {
    const v = line[i]!;
    if (v !== null && Number.isFinite(v)) return v;
  }
  return null;
}

/** Narrow screens stack each row on two lines (and hide the sparklines): taller rows. */
function useNarrow(): boolean {
  const query = '(max-width: 760px)';
  const [narrow, setNarrow] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const mq = window.matchMedia(query);
    const fn = () => setNarrow(mq.matches);
    mq.addEventListener('change', fn);
    return () => mq.removeEventListener('change', fn);
  }, []);
  return narrow;
}

/** The answer's grid: its first step's start, its end and the step (ms). */
interface SparkSpan {
  from: number;
  to: number;
  step: number;
}

function Metric(p: {
  label: string;
  of: string;
  unit: Unit;
  line: FleetLine;
  span: SparkSpan;
  max?: number;
}) {
  // Only the rows on screen come here (the list is virtualised): points are made for them alone.
  const points = p.line.map((v, i) => [p.span.from + i * p.span.step, v] as const);
  return (
    <>
      <span class="m-label">{p.label}</span>
      <Sparkline
        points={points}
        from={p.span.from}
        to={p.span.to}
        max={p.max}
        width={72}
        height={22}
        label={`${p.label} of ${p.of}`}
      />
      <span class="m-val">{formatValue(p.unit, lastValue(p.line))}</span>
    </>
  );
}

function FindingCounts({ f }: { f: FleetServer['findings'] }) {
  if (f.critical + f.warning + f.info === 0) return <span class="muted">none</span>;
  return (
    <>
      {f.critical > 0 ? (
        <span class="fc bad" title={`${f.critical} critical`}>
          {f.critical} crit
        </span>
      ) : null}
      {f.warning > 0 ? (
        <span class="fc warn" title={`${f.warning} warning`}>
          {f.warning} warn
        </span>
      ) : null}
      {f.info > 0 ? (
        <span class="fc info" title={`${f.info} info`}>
          {f.info} info
        </span>
      ) : null}
    </>
  );
}

function ServerCells({ s, span }: { s: FleetServer; span: SparkSpan }) {
  return (
    <>
      <td class="c-status">
        <Badge value={s.status} />
      </td>
      <td class="c-name">
        <Link href={`/servers/${s.serverId}${keepQuery()}`}>{s.name}</Link>
      </td>
      <td class="c-find">
        <FindingCounts f={s.findings} />
      </td>
      <td class="c-m c-cpu">
        <Metric label="CPU" of={s.name} unit="percent" line={s.cpu} span={span} max={100} />
      </td>
      <td class="c-m c-mem">
        <Metric label="Memory" of={s.name} unit="percent" line={s.memory} span={span} max={100} />
      </td>
      <td class="c-m c-conn c-none" />
      <td class="c-m c-tps c-none" />
      <td class="c-seen" title={s.lastSeenAt ?? 'never'}>
        {s.lastSeenAt ? formatAge(s.lastSeenAt) : 'never'}
      </td>
    </>
  );
}

function TargetCells({ s, t, span }: { s: FleetServer; t: FleetTarget; span: SparkSpan }) {
  const of = `${t.name} on ${s.name}`;
  return (
    <>
      <td class="c-status">
        <Badge value={t.status} />
      </td>
      <td class="c-name c-target" colSpan={2}>
        <Link href={`/servers/${s.serverId}/postgres/${t.targetId}${keepQuery()}`}>{t.name}</Link>
        <span class="muted"> PostgreSQL{t.serverVersion ? ` ${t.serverVersion}` : ''}</span>
      </td>
      <td class="c-m c-cpu c-none" />
      <td class="c-m c-mem c-none" />
      <td class="c-m c-conn">
        <Metric label="Connections" of={of} unit="count" line={t.connections} span={span} />
      </td>
      <td class="c-m c-tps">
        <Metric label="TPS" of={of} unit="perSec" line={t.tps} span={span} />
      </td>
      <td class="c-seen c-none" />
    </>
  );
}

const columns = [
  ['c-status', 'Status'],
  ['c-name', 'Name'],
  ['c-find', 'Open findings'],
  ['c-m c-cpu', 'CPU busy'],
  ['c-m c-mem', 'Memory used'],
  ['c-m c-conn', 'Connections'],
  ['c-m c-tps', 'Transactions/s'],
  ['c-seen', 'Last data'],
] as const;

const severityRank: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** Worst first: severity, then open before acknowledged, alerts before recommendations, newest first. */
function worstFindings(list: readonly FindingSummary[]): FindingSummary[] {
  return [...list].sort(
    (a, b) =>
      (severityRank[a.severity] ?? 3) - (severityRank[b.severity] ?? 3) ||
      Number(a.state !== 'open') - Number(b.state !== 'open') ||
      Number(a.kind !== 'alert') - Number(b.kind !== 'alert') ||
      (b.lastSeen ?? '').localeCompare(a.lastSeen ?? ''),
  );
}

function WrongNow({ findings, error }: { findings: FindingSummary[] | undefined; error: Error | undefined }) {
  const q = keepQuery();
  if (!findings) return error ? <ErrorBox error={error} /> : <Loading what="findings" />;
  const worst = worstFindings(findings).slice(0, stripSize);
  if (worst.length === 0) {
    return (
      <p class="wrong-none">
        <Badge value="ok" /> Nothing critical or warning is open.
      </p>
    );
  }
  const more = findings.length - worst.length;
  return (
    <>
      <ul class="wrong-list">
        {worst.map((f) => (
          <li key={f.id}>
            <Badge value={f.severity} />
            <Link href={`/findings/${encodeURIComponent(f.id)}${q}`}>{f.title}</Link>
            <span class="muted wrong-where">
              {f.serverName ?? `server ${f.serverId}`}
              {f.targetName ? ` · ${f.targetName}` : ''}
              {f.state === 'acknowledged' ? ' · acknowledged' : ''}
              {f.lastSeen ? ` · ${formatAge(f.lastSeen)}` : ''}
            </span>
          </li>
        ))}
      </ul>
      {more > 0 ? (
        <p class="wrong-more">
          <Link href={`/findings${q}`}>
            {more}
            {findings.length >= 200 ? '+' : ''} more critical or warning findings
          </Link>
        </p>
      ) : null}
    </>
  );
}

export function OverviewPage(_p: { params: Params }) {
  const loc = useLocation();
  const range = useTimeRange();
  const narrow = useNarrow();
  const search = loc.query.get('q') ?? '';
  const statuses = parseStatuses(loc.query.get('status'));
  const byName = loc.query.get('sort') === 'name';
  const needle = search.trim().toLowerCase();
  const statusKey = statuses.join(',');

  // A large fleet's answer takes seconds to make: the refresh tick reloads it only once the last load is
  // five of its durations old, so an open overview never keeps the server busy.
  const [fleetTick, setFleetTick] = useState(0);
  const cost = useRef({ start: 0, ms: 0 });
  // The load in flight (its number), 0 when none: neither the clock nor the live feed cancels a load to
  // start the same one again — with a slow answer that would never end.
  const loads = useRef({ started: 0, inFlight: 0 });
  const key = rangeKey(range);
  const raw = `${range.raw.from}|${range.raw.to}`;
  const seen = useRef({ key, raw });
  // A reload re-renders every row in view: while the list is being scrolled it waits for a second of
  // quiet (rows do not change or move under the pointer, and a scroll's frames stay short).
  const scrolledAt = useRef(0);
  const afterScroll = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const whenListQuiet = (fn: () => void) => {
    clearTimeout(afterScroll.current);
    const run = () => {
      const wait = scrolledAt.current + scrollQuietMs - Date.now();
      if (wait > 0) afterScroll.current = setTimeout(run, wait);
      else fn();
    };
    run();
  };
  useEffect(() => () => clearTimeout(afterScroll.current), []);
  useEffect(() => {
    // Only the clock's refresh of the same range (a new range reloads through its own dependencies).
    const refresh = seen.current.raw === raw && seen.current.key !== key;
    seen.current = { key, raw };
    if (refresh && loads.current.inFlight === 0 && Date.now() - cost.current.start >= 5 * cost.current.ms) {
      whenListQuiet(() => setFleetTick((n) => n + 1));
    }
  }, [key]);
  // Filters go to the server only when one answer cannot hold the whole fleet.
  const [serverSide, setServerSide] = useState(false);
  const fleet = useData(
    async (signal) => {
      const start = Date.now();
      const id = ++loads.current.started;
      loads.current.inFlight = id;
      try {
        // The last hour up to now is the server's default view, one answer shared by every viewer and kept
        // fresh: asked for without a range, it comes back at once instead of being made for this page.
        const span =
          range.raw.from === defaultFrom && range.raw.to === 'now' ? {} : { from: range.from, to: range.to };
        const answer = await fetchFleet(
          serverSide ? { ...span, q: search.trim(), status: statuses } : span,
          signal,
        );
        cost.current = { start, ms: Date.now() - start };
        return answer;
      } finally {
        if (loads.current.inFlight === id) loads.current.inFlight = 0;
      }
    },
    [range.raw.from, range.raw.to, fleetTick, serverSide && needle, serverSide && statusKey],
  );
  const findings = useData((signal) => fetchAttentionFindings(signal), [key]);
  useEffect(() => {
    if (fleet.data?.truncated && !serverSide) setServerSide(true);
  }, [fleet.data, serverSide]);

  const all = fleet.data?.servers;
  const counts = useMemo(() => {
    const c: Record<FleetStatus, number> = { ok: 0, degraded: 0, silent: 0, down: 0 };
    for (const s of all ?? []) c[s.status]++;
    return c;
  }, [all]);
  const shown = useMemo(() => {
    const want = new Set(statuses);
    const list = (all ?? []).filter((s) => (want.size === 0 || want.has(s.status)) && nameMatches(s, needle));
    return list.sort(byName ? (a, b) => a.name.localeCompare(b.name) : compareWorstFirst);
  }, [all, needle, statusKey, byName]);
  const rows = useMemo(() => rowsOf(shown), [shown]);

  // Live: the worst servers' agent status and alerts reload the page's data (at most once per 10 s).
  const liveIds = useMemo(
    () =>
      [...(all ?? [])]
        .sort(compareWorstFirst)
        .slice(0, maxLiveServers)
        .map((s) => s.serverId)
        .sort((a, b) => a - b),
    [all],
  );
  useLiveReload(liveIds, liveTypes, () => {
    findings.reload();
    whenListQuiet(() => {
      if (loads.current.inFlight === 0) fleet.reload();
    });
  });

  const listBox = useRef<HTMLDivElement>(null);
  const span = fleet.data
    ? { from: fleet.data.from, to: fleet.data.to, step: fleet.data.stepSeconds * 1000 }
    : { from: range.from, to: range.to, step: 60_000 };
  const total = all?.length ?? 0;

  return (
    <Layout title="Overview">
      <Panel title="What is wrong now" id="wrong">
        <WrongNow findings={findings.data?.findings} error={findings.error} />
      </Panel>
      <Panel
        title="Servers"
        id="fleet"
        actions={
          all ? (
            <span class="muted" aria-live="polite">
              {shown.length === total
                ? `${total} server${total === 1 ? '' : 's'}`
                : `${shown.length} of ${total} server${total === 1 ? '' : 's'}`}
            </span>
          ) : null
        }
      >
        <div class="fleet-tools">
          <fieldset class="chips">
            <legend class="sr-only">Status</legend>
            <button
              type="button"
              aria-pressed={statuses.length === 0}
              onClick={() => setQuery({ status: undefined })}
            >
              All <span class="chip-n">{total}</span>
            </button>
            {statusOrder.map((st) => (
              <button
                key={st}
                type="button"
                class={`chip-${st}`}
                aria-pressed={statuses.length === 1 && statuses[0] === st}
                title={statusHelp[st]}
                onClick={() => setQuery({ status: st })}
              >
                {st} <span class="chip-n">{counts[st]}</span>
              </button>
            ))}
          </fieldset>
          <div class="fleet-search">
            <label for="fleet-q">Search</label>
            <input
              id="fleet-q"
              type="search"
              placeholder="server or target name"
              autoComplete="off"
              value={search}
              maxLength={200}
              onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value }, { replace: true })}
            />
          </div>
          <div class="fleet-sort">
            <label for="fleet-sort">Sort</label>
            <select
              id="fleet-sort"
              value={byName ? 'name' : 'worst'}
              onChange={(e) =>
                setQuery({ sort: (e.target as HTMLSelectElement).value === 'name' ? 'name' : undefined })
              }
            >
              <option value="worst">worst first</option>
              <option value="name">by name</option>
            </select>
          </div>
        </div>
        {fleet.data?.truncated ? (
          <p class="muted">
            The fleet is larger than one answer holds: the first servers by name are shown; search and the
            status filter ask the server.
          </p>
        ) : null}
        <ErrorBox error={fleet.error} />
        <div
          ref={listBox}
          class="fleet"
          data-loaded={all ? 'yes' : 'no'}
          data-rows={shown.length}
          data-total={total}
        >
          {!all ? (
            fleet.error ? null : (
              <Loading what="the fleet" />
            )
          ) : total === 0 ? (
            <Empty>
              No server has reported yet. Agents appear here with their first delivery (see Settings for the
              enrollment command).
            </Empty>
          ) : shown.length === 0 ? (
            <Empty>No server matches {describeFilter(needle, statuses)}.</Empty>
          ) : (
            <VirtualList
              items={rows}
              rowHeight={narrow ? 58 : 40}
              itemKey={(r) => (r.kind === 'server' ? `s${r.s.serverId}` : `t${r.t.targetId}`)}
              renderRow={(r) =>
                r.kind === 'server' ? (
                  <ServerCells s={r.s} span={span} />
                ) : (
                  <TargetCells s={r.s} t={r.t} span={span} />
                )
              }
              label="Servers and their PostgreSQL targets"
              class="fleet-list"
              resetOn={`${needle}|${statusKey}|${byName}`}
              onScrolled={() => {
                scrolledAt.current = Date.now();
              }}
              header={columns.map(([cls, text]) => (
                <th key={text} scope="col" class={cls}>
                  {text}
                </th>
              ))}
              onFirstRows={() => {
                requestAnimationFrame(() => {
                  performance.mark('pgvigil:fleet-rendered');
                  listBox.current?.setAttribute('data-ready', 'yes');
                });
              }}
            />
          )}
        </div>
      </Panel>
    </Layout>
  );
}

function describeFilter(needle: string, statuses: readonly FleetStatus[]): string {
  const parts: string[] = [];
  if (needle) parts.push(`“${needle}”`);
  if (statuses.length > 0) parts.push(`status ${statuses.join(' or ')}`);
  return parts.join(' with ');
}
