/**
 * Logs: search by time range, server, source, level, event and text (every filter in the URL, so a link
 * reopens the same view), a histogram of entries by level over time, the most frequent patterns, and the
 * entries newest first with keyset pages of older ones. Live tail reloads the newest entries when the
 * live feed says a batch with log entries was stored (at most once every 2 s). Each line links to the
 * metrics at that moment (±15 min).
 */
import { useEffect, useState } from 'preact/hooks';
import {
  fetchLogCounts,
  fetchLogPatterns,
  fetchLogs,
  fetchServerChoices,
  fetchTargetIds,
  type LogCountBucket,
  type LogEntry,
  type LogFilter,
  type LogLevel,
  logLevels,
  type ServerChoice,
} from '../api';
import { Chart, type ChartSeries } from '../components/Chart';
import { Layout } from '../components/Layout';
import { Empty, ErrorBox, Link, Loading, Panel } from '../components/ui';
import { type Loaded, useData } from '../data';
import { formatCount, formatTime } from '../format';
import { type LiveMessage, useLiveReload } from '../live';
import { metricsHref, type Params, setQuery, useLocation } from '../router';
import { refreshEveryMs, type TimeRange, useTimeRange } from '../time';

/** Severe levels at the bottom of the stack, where they are seen first. */
const stackOrder: readonly LogLevel[] = ['panic', 'fatal', 'error', 'warning', 'notice', 'info', 'debug'];
const levelColour: Record<LogLevel, string> = {
  panic: '--c5',
  fatal: '--c7',
  error: '--bad',
  warning: '--warn',
  notice: '--c6',
  info: '--c1',
  debug: '--muted',
};
const tailThrottleMs = 2000;

/** The page's filters as the URL holds them. */
export function logFilterOf(query: URLSearchParams, range: TimeRange): LogFilter {
  const server = Number(query.get('server'));
  const levels = (query.get('level') ?? '')
    .split(',')
    .filter((l): l is LogLevel => (logLevels as readonly string[]).includes(l));
  const text = (k: string) => query.get(k)?.trim().slice(0, 200) || undefined;
  return {
    from: range.from,
    to: range.to,
    server: Number.isSafeInteger(server) && server > 0 ? server : undefined,
    source: text('source'),
    level: levels.length > 0 ? levels.join(',') : undefined,
    q: text('q'),
    event: text('event'),
    fingerprint: /^[0-9a-f]{16}$/.test(query.get('fp') ?? '') ? (query.get('fp') ?? undefined) : undefined,
  };
}

/** Counts per bucket as one series per level that occurs (bars at the middle of their bucket). */
export function histogramSeries(buckets: readonly LogCountBucket[], stepSeconds: number): ChartSeries[] {
  const half = (stepSeconds * 1000) / 2;
  return stackOrder
    .filter((l) => buckets.some((b) => (b.counts[l] ?? 0) > 0))
    .map((l) => ({
      label: l,
      color: levelColour[l],
      points: buckets.map((b) => [Date.parse(b.ts) + half, b.counts[l] ?? 0] as const),
    }));
}

function Filters(p: { filter: LogFilter; servers: Loaded<ServerChoice[]> }) {
  const { servers } = p;
  const [text, setText] = useState({ q: '', source: '', event: '' });
  useEffect(() => {
    setText({ q: p.filter.q ?? '', source: p.filter.source ?? '', event: p.filter.event ?? '' });
  }, [p.filter.q, p.filter.source, p.filter.event]);
  const levels = new Set(p.filter.level?.split(',') ?? []);
  const toggleLevel = (l: LogLevel, on: boolean) => {
    const next = logLevels.filter((x) => (x === l ? on : levels.has(x)));
    setQuery({ level: next.join(',') || undefined });
  };
  return (
    <form
      class="log-filters panel"
      aria-label="Log filters"
      onSubmit={(e) => {
        e.preventDefault();
        setQuery({ q: text.q.trim(), source: text.source.trim(), event: text.event.trim() });
      }}
    >
      <label>
        Server
        <select
          value={p.filter.server === undefined ? '' : String(p.filter.server)}
          onChange={(e) => setQuery({ server: e.currentTarget.value || undefined })}
        >
          <option value="">All servers</option>
          {servers.data?.map((s) => (
            <option key={s.serverId} value={String(s.serverId)}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Source
        <input
          type="text"
          name="source"
          placeholder="postgresql, auth…"
          value={text.source}
          onInput={(e) => setText({ ...text, source: e.currentTarget.value })}
        />
      </label>
      <label>
        Event
        <input
          type="text"
          name="event"
          placeholder="checkpoint_complete…"
          value={text.event}
          onInput={(e) => setText({ ...text, event: e.currentTarget.value })}
        />
      </label>
      <label class="grow">
        Message contains
        <input
          type="search"
          name="q"
          maxLength={200}
          value={text.q}
          onInput={(e) => setText({ ...text, q: e.currentTarget.value })}
        />
      </label>
      <button type="submit" class="primary">
        Search
      </button>
      <fieldset class="levels">
        <legend>Levels (none ticked: all)</legend>
        {logLevels.map((l) => (
          <label key={l} class="check">
            <input
              type="checkbox"
              name="level"
              value={l}
              checked={levels.has(l)}
              onChange={(e) => toggleLevel(l, e.currentTarget.checked)}
            />
            {l}
          </label>
        ))}
      </fieldset>
      <ErrorBox error={servers.error} />
    </form>
  );
}

function Histogram(p: { filter: LogFilter; epoch: string; nonce: number }) {
  const counts = useData((s) => fetchLogCounts(p.filter, s), [p.epoch, p.nonce]);
  return (
    <Panel title="Entries by level" id="log-histogram">
      <ErrorBox error={counts.error} />
      {counts.data ? (
        <Chart
          title="Log entries per bucket"
          unit="count"
          bars
          stacked
          series={histogramSeries(counts.data.buckets, counts.data.step)}
          from={p.filter.from}
          to={p.filter.to}
          stepSeconds={counts.data.step}
          height={160}
        />
      ) : (
        <Loading what="the histogram" />
      )}
    </Panel>
  );
}

function Patterns(p: { filter: LogFilter; epoch: string }) {
  const patterns = useData((s) => fetchLogPatterns(p.filter, 15, s), [p.epoch]);
  return (
    <Panel title="Patterns" id="log-patterns">
      <ErrorBox error={patterns.error} />
      {!patterns.data ? (
        <Loading what="patterns" />
      ) : patterns.data.patterns.length === 0 ? (
        <Empty>No entries match in this range.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th class="num">Entries</th>
                <th>Level</th>
                <th>Source</th>
                <th>Newest message of the pattern</th>
                <th>Last seen</th>
                <th>
                  <span class="sr-only">Filter</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {patterns.data.patterns.map((x) => (
                <tr key={x.fingerprint}>
                  <td class="num">{formatCount(x.count)}</td>
                  <td>
                    <span class={`level level-${x.level}`}>{x.level}</span>
                  </td>
                  <td>{x.source}</td>
                  <td class="log-message">{x.sample}</td>
                  <td>{formatTime(x.lastSeen)}</td>
                  <td class="nowrap">
                    <button
                      type="button"
                      title={`Show only this pattern (${x.fingerprint})`}
                      onClick={() =>
                        setQuery({ fp: p.filter.fingerprint === x.fingerprint ? undefined : x.fingerprint })
                      }
                    >
                      {p.filter.fingerprint === x.fingerprint ? 'All' : 'Only these'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

/** The context of a line as key/values (nested values as compact JSON). */
function Context({ context }: { context: Record<string, unknown> | undefined }) {
  const keys = context ? Object.keys(context) : [];
  if (!context || keys.length === 0) return null;
  return (
    <dl class="kv">
      {keys.map((k) => {
        const v = context[k];
        return [
          <dt key={`${k}-k`}>{k}</dt>,
          <dd key={`${k}-v`}>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>,
        ];
      })}
    </dl>
  );
}

/** The single PostgreSQL target of each server on the page, for "PostgreSQL at that moment" links. */
function useSoleTargets(servers: readonly number[]): ReadonlyMap<number, number> {
  const key = [...new Set(servers)]
    .sort((a, b) => a - b)
    .slice(0, 20)
    .join(',');
  const targets = useData(
    async (s) => {
      const out = new Map<number, number>();
      for (const id of key ? key.split(',').map(Number) : []) {
        const t = await fetchTargetIds(id, s);
        if (t.length === 1) out.set(id, t[0]!.targetId);
      }
      return out;
    },
    [key],
  );
  return targets.data ?? new Map();
}

function EntryRow({ e, target }: { e: LogEntry; target: number | undefined }) {
  const at = Date.parse(e.ts);
  const postgres = target !== undefined && (e.component === 'postgres' || /postgres|pg/i.test(e.source));
  return (
    <tr class={`log-row level-${e.level}`}>
      <td class="nowrap">
        <time dateTime={e.ts}>{formatTime(at)}</time>
      </td>
      <td>{e.server ?? e.serverId}</td>
      <td>
        <span class={`level level-${e.level}`}>{e.level}</span>
      </td>
      <td>{e.source}</td>
      <td class="log-message">
        {e.context && Object.keys(e.context).length > 0 ? (
          <details>
            <summary>{e.message}</summary>
            <Context context={e.context} />
          </details>
        ) : (
          e.message
        )}
      </td>
      <td class="nowrap">
        <Link href={metricsHref(e.serverId, at)}>Host</Link>
        {postgres ? (
          <>
            {' · '}
            <Link href={metricsHref(e.serverId, at, target)}>PostgreSQL</Link>
          </>
        ) : null}
      </td>
    </tr>
  );
}

function Entries(p: {
  filter: LogFilter;
  /** The URL's query and the clock's refresh period: together, what reloads the data (the page's epoch). */
  query: string;
  period: number;
  nonce: number;
  tail: boolean;
  live: boolean;
}) {
  // Once older pages are shown, the clock's refreshes of a live range leave the first page as it is:
  // reloading it would drop the older pages (or leave a gap between them and a newer first page). A new
  // filter, or news of the live tail, reloads it as before.
  const [pinned, setPinned] = useState<{ query: string; period: number } | undefined>();
  const period = pinned !== undefined && pinned.query === p.query ? pinned.period : p.period;
  const first = useData((s) => fetchLogs(p.filter, { limit: 100 }, s), [p.query, period, p.nonce]);
  const [older, setOlder] = useState<{ entries: LogEntry[]; next: string | null } | undefined>();
  const [olderError, setOlderError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setOlder(undefined);
    setOlderError(undefined);
    setPinned(undefined);
  }, [first.data]);
  const entries = [...(first.data?.entries ?? []), ...(older?.entries ?? [])];
  const next = older ? older.next : (first.data?.nextBefore ?? null);
  const targets = useSoleTargets(entries.map((e) => e.serverId));
  const loadOlder = () => {
    if (!next) return;
    setPinned({ query: p.query, period });
    setBusy(true);
    fetchLogs(p.filter, { limit: 100, before: next })
      .then(
        (r) => setOlder({ entries: [...(older?.entries ?? []), ...r.entries], next: r.nextBefore }),
        setOlderError,
      )
      .finally(() => setBusy(false));
  };
  return (
    <Panel
      title="Entries"
      id="log-entries"
      actions={
        <label class="check">
          <input
            type="checkbox"
            name="tail"
            checked={p.tail}
            onChange={(e) => {
              const on = e.currentTarget.checked;
              // A tail follows the clock: an absolute range becomes the last 15 minutes.
              setQuery({
                tail: on ? '1' : undefined,
                ...(on && !p.live ? { from: 'now-15m', to: undefined } : {}),
              });
            }}
          />
          Live tail
        </label>
      }
    >
      <ErrorBox error={first.error} />
      {!first.data ? (
        <Loading what="log entries" />
      ) : entries.length === 0 ? (
        <Empty>No entries match in this range.</Empty>
      ) : (
        <div class="table-wrap">
          <table class="log-table" aria-live={p.tail ? 'polite' : undefined}>
            <thead>
              <tr>
                <th>Time</th>
                <th>Server</th>
                <th>Level</th>
                <th>Source</th>
                <th>Message</th>
                <th>Metrics then</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e, i) => (
                <EntryRow key={`${e.ts}-${i}`} e={e} target={targets.get(e.serverId)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ErrorBox error={olderError} />
      <p class="log-more muted">
        {entries.length > 0
          ? `${formatCount(entries.length)} ${entries.length === 1 ? 'entry' : 'entries'} shown. `
          : ''}
        {next ? (
          <button type="button" onClick={loadOlder} disabled={busy}>
            {busy ? 'Loading…' : 'Older entries'}
          </button>
        ) : entries.length > 0 ? (
          'That is all in this range.'
        ) : null}
      </p>
    </Panel>
  );
}

/** Reloads the newest entries when a batch with log entries was stored (at most once every 2 s). */
function Tail(p: { servers: readonly number[]; onNews: () => void }) {
  useLiveReload(p.servers, hasLogEntries, p.onNews, tailThrottleMs);
  return null;
}

function hasLogEntries(m: LiveMessage): boolean {
  return m.type === 'sample' && Array.isArray(m.families) && m.families.includes('log_entries');
}

export function LogsPage(_p: { params: Params }) {
  const loc = useLocation();
  const range = useTimeRange();
  const filter = logFilterOf(loc.query, range);
  const tail = loc.query.get('tail') === '1' && range.live;
  // What makes the data reload: the URL, and for a live range each refresh period of the clock.
  const query = String(loc.query);
  const period = range.live ? Math.floor(range.to / refreshEveryMs(range)) : 0;
  const epoch = `${query}|${period}`;
  const servers = useData((s) => fetchServerChoices(s), []);
  const liveServers =
    filter.server !== undefined ? [filter.server] : (servers.data ?? []).map((s) => s.serverId);
  const [nonce, setNonce] = useState(0);
  return (
    <Layout title="Logs">
      <Filters filter={filter} servers={servers} />
      {tail && liveServers.length > 0 ? (
        <Tail servers={liveServers} onNews={() => setNonce((n) => n + 1)} />
      ) : null}
      {filter.fingerprint ? (
        <p class="muted">
          Showing one pattern ({filter.fingerprint}).{' '}
          <button type="button" onClick={() => setQuery({ fp: undefined })}>
            Show all patterns
          </button>
        </p>
      ) : null}
      <Histogram filter={filter} epoch={epoch} nonce={nonce} />
      <Entries filter={filter} query={query} period={period} nonce={nonce} tail={tail} live={range.live} />
      <Patterns filter={filter} epoch={epoch} />
    </Layout>
  );
}
