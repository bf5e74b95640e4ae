/**
 * Findings: the open and recent alerts and recommendations, filtered by state, kind, severity and server
 * (in the URL), and one finding (`/findings/:id`) with its explanation, evidence, the action to copy and
 * its history. Roles user and admin acknowledge, silence, unsilence and resolve; a viewer sees no buttons
 * (the API refuses them anyway). The list reloads when the live feed says an alert fired or resolved.
 * Incidents and SLOs appear once the server's API has them (read from its OpenAPI document).
 */
import { useEffect, useState } from 'preact/hooks';
import {
  actOnFinding,
  apiHasPath,
  type Finding,
  type FindingAction,
  type FindingEvent,
  type FindingFilter,
  fetchFinding,
  fetchFindings,
  fetchIncidents,
  fetchServerChoices,
  fetchSlos,
  type Incident,
  type ServerChoice,
  type SloRow,
} from '../api';
import { Layout } from '../components/Layout';
import { Badge, CodeBlock, Empty, ErrorBox, Link, Loading, Panel } from '../components/ui';
import { type Loaded, useData } from '../data';
import { formatAge, formatBytes, formatDuration, formatTime } from '../format';
import { type LiveMessage, useLiveReload } from '../live';
import { keepQuery, logsHref, metricsHref, type Params, setQuery, useLocation } from '../router';
import { can, useMe } from '../session';

const unresolved = 'open,acknowledged,silenced';
const stateChoices = [
  { value: '', label: 'Not resolved' },
  { value: 'open', label: 'Open' },
  { value: 'acknowledged', label: 'Acknowledged' },
  { value: 'silenced', label: 'Silenced' },
  { value: 'resolved', label: 'Resolved' },
  { value: 'all', label: 'All' },
] as const;
const silenceChoices = [
  { value: '1h', label: '1 hour' },
  { value: '4h', label: '4 hours' },
  { value: '1d', label: '1 day' },
  { value: '7d', label: '7 days' },
] as const;
const reloadThrottleMs = 2000;
const alertTypes: readonly LiveMessage['type'][] = ['alert_fired', 'alert_resolved'];
const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const quarterHourMs = 15 * 60_000;

/** The list's filters as the URL holds them (unknown words are left out rather than sent). */
export function findingFilterOf(query: URLSearchParams): FindingFilter {
  const pick = (k: string, allowed: readonly string[]) => {
    const v = query.get(k) ?? '';
    return allowed.includes(v) ? v : undefined;
  };
  const state = query.get('state') ?? '';
  const server = Number(query.get('server'));
  return {
    state:
      state === 'all'
        ? undefined
        : (pick('state', ['open', 'acknowledged', 'silenced', 'resolved']) ?? unresolved),
    kind: pick('kind', ['alert', 'recommendation', 'anomaly']),
    severity: pick('severity', ['info', 'warning', 'critical']),
    server: Number.isSafeInteger(server) && server > 0 ? server : undefined,
  };
}

/** Reloads on `alert_fired` / `alert_resolved` about these servers (at most once every 2 s). */
function useAlertReload(servers: readonly number[], reload: () => void): void {
  useLiveReload(servers, alertTypes, reload, reloadThrottleMs);
}

function Filters(p: { query: URLSearchParams; servers: Loaded<ServerChoice[]> }) {
  const select = (name: string, label: string, choices: readonly { value: string; label: string }[]) => (
    <label>
      {label}
      <select
        name={name}
        value={p.query.get(name) ?? ''}
        onChange={(e) => setQuery({ [name]: e.currentTarget.value || undefined })}
      >
        {choices.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <form class="finding-filters panel" aria-label="Finding filters" onSubmit={(e) => e.preventDefault()}>
      {select('state', 'State', stateChoices)}
      {select('kind', 'Kind', [
        { value: '', label: 'Alerts and recommendations' },
        { value: 'alert', label: 'Alerts' },
        { value: 'recommendation', label: 'Recommendations' },
        { value: 'anomaly', label: 'Anomalies' },
      ])}
      {select('severity', 'Severity', [
        { value: '', label: 'Any severity' },
        { value: 'critical', label: 'Critical' },
        { value: 'warning', label: 'Warning' },
        { value: 'info', label: 'Info' },
      ])}
      {select('server', 'Server', [
        { value: '', label: 'All servers' },
        ...(p.servers.data ?? []).map((s) => ({ value: String(s.serverId), label: s.name })),
      ])}
    </form>
  );
}

function where(f: Finding): string {
  const server = f.serverName ?? `server ${f.serverId}`;
  return f.targetName ? `${server} · ${f.targetName}` : server;
}

function FindingList(p: { servers: Loaded<ServerChoice[]> }) {
  const loc = useLocation();
  const filter = findingFilterOf(loc.query);
  const key = JSON.stringify(filter);
  const first = useData((s) => fetchFindings(filter, undefined, s), [key]);
  const [more, setMore] = useState<{ findings: Finding[]; next: string | null } | undefined>();
  const [moreError, setMoreError] = useState<Error | undefined>();
  useEffect(() => setMore(undefined), [first.data]);
  useAlertReload(
    filter.server !== undefined ? [filter.server] : (p.servers.data ?? []).map((s) => s.serverId),
    first.reload,
  );
  const findings = [...(first.data?.findings ?? []), ...(more?.findings ?? [])];
  const next = more ? more.next : (first.data?.nextCursor ?? null);
  const q = keepQuery(['state', 'kind', 'severity', 'server']);
  return (
    <>
      <Filters query={loc.query} servers={p.servers} />
      <Panel title="Alerts and recommendations" id="finding-list">
        <ErrorBox error={first.error} />
        {!first.data ? (
          <Loading what="findings" />
        ) : findings.length === 0 ? (
          <Empty>Nothing matches: no finding with these filters.</Empty>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Severity</th>
                  <th>Finding</th>
                  <th>Where</th>
                  <th>Kind</th>
                  <th>State</th>
                  <th>Last seen</th>
                </tr>
              </thead>
              <tbody>
                {findings.map((f) => (
                  <tr key={f.id}>
                    <td>
                      <Badge value={f.severity} />
                    </td>
                    <td>
                      <Link href={`/findings/${f.id}${q}`}>{f.title}</Link>
                    </td>
                    <td>{where(f)}</td>
                    <td>{f.kind}</td>
                    <td>{f.state}</td>
                    <td>
                      <time dateTime={f.lastSeen}>{formatAge(f.lastSeen)}</time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <ErrorBox error={moreError} />
        {next ? (
          <p>
            <button
              type="button"
              onClick={() =>
                fetchFindings(filter, next).then(
                  (r) =>
                    setMore({ findings: [...(more?.findings ?? []), ...r.findings], next: r.nextCursor }),
                  setMoreError,
                )
              }
            >
              More findings
            </button>
          </p>
        ) : null}
      </Panel>
      <IncidentSection server={filter.server} servers={p.servers} />
      <SloSection />
    </>
  );
}

/** One evidence value in human form: sizes, shares and durations by the key's unit suffix. */
export function evidenceValue(key: string, v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (/_bytes$/.test(key)) return `${formatBytes(v)} (${v})`;
    if (/_(pct|percent)$/.test(key)) return `${v} %`;
    if (/_ms$/.test(key)) return formatDuration(v);
    if (/_(s|seconds)$/.test(key)) return formatDuration(v * 1000);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return isoTime.test(v) ? formatTime(v) : v;
  return JSON.stringify(v);
}

/** Evidence as key/values; nested objects as nested lists, lists of objects as small tables. */
export function Evidence({ value, depth = 0 }: { value: Record<string, unknown>; depth?: number }) {
  const keys = Object.keys(value).slice(0, 100);
  if (keys.length === 0) return <Empty>No evidence recorded.</Empty>;
  return (
    <dl class="kv">
      {keys.map((k) => {
        const v = value[k];
        let shown: preact.JSX.Element | string;
        if (depth < 3 && v !== null && typeof v === 'object' && !Array.isArray(v)) {
          shown = <Evidence value={v as Record<string, unknown>} depth={depth + 1} />;
        } else if (
          depth < 3 &&
          Array.isArray(v) &&
          v.length > 0 &&
          v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))
        ) {
          const cols = [...new Set(v.flatMap((x) => Object.keys(x as object)))].slice(0, 12);
          shown = (
            <table class="evidence-table">
              <thead>
                <tr>
                  {cols.map((c) => (
                    <th key={c}>{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {v.slice(0, 50).map((x, i) => (
                  <tr key={i}>
                    {cols.map((c) => (
                      <td key={c}>{evidenceValue(c, (x as Record<string, unknown>)[c])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          );
        } else if (Array.isArray(v)) {
          shown = v.map((x) => evidenceValue(k, x)).join(', ');
        } else shown = evidenceValue(k, v);
        return [<dt key={`${k}-k`}>{k.replaceAll('_', ' ')}</dt>, <dd key={`${k}-v`}>{shown}</dd>];
      })}
    </dl>
  );
}

function Actions(p: { finding: Finding; onDone: () => void }) {
  const [silenceFor, setSilenceFor] = useState<string>('4h');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const f = p.finding;
  const run = (action: FindingAction) => {
    setBusy(true);
    setError(undefined);
    actOnFinding(f.id, action, silenceFor)
      .then(p.onDone, setError)
      .finally(() => setBusy(false));
  };
  if (f.state === 'resolved') return null;
  return (
    <div class="finding-actions">
      {f.state === 'open' ? (
        <button type="button" class="primary" disabled={busy} onClick={() => run('acknowledge')}>
          Acknowledge
        </button>
      ) : null}
      {f.state === 'silenced' ? (
        <button type="button" disabled={busy} onClick={() => run('unsilence')}>
          Unsilence
        </button>
      ) : (
        <span class="silence">
          <label>
            Silence for
            <select value={silenceFor} onChange={(e) => setSilenceFor(e.currentTarget.value)}>
              {silenceChoices.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>
          <button type="button" disabled={busy} onClick={() => run('silence')}>
            Silence
          </button>
        </span>
      )}
      <button type="button" disabled={busy} onClick={() => run('resolve')}>
        Resolve
      </button>
      <ErrorBox error={error} />
    </div>
  );
}

function History({ history }: { history: readonly FindingEvent[] }) {
  if (history.length === 0) return <Empty>No history yet.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>What</th>
            <th>Severity</th>
            <th>By</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {history.map((h, i) => (
            <tr key={`${h.ts}-${i}`}>
              <td class="nowrap">
                <time dateTime={h.ts}>{formatTime(h.ts)}</time>
              </td>
              <td>{h.event}</td>
              <td>{h.severity ?? '—'}</td>
              <td>{h.actor ?? 'pgvigil'}</td>
              <td>
                {h.detail && Object.keys(h.detail).length > 0
                  ? Object.entries(h.detail)
                      .slice(0, 10)
                      .map(([k, v]) => `${k}: ${evidenceValue(k, v)}`)
                      .join(' · ')
                  : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function FindingDetail({ id }: { id: string }) {
  const me = useMe();
  const one = useData((s) => fetchFinding(id, s), [id]);
  const f = one.data?.finding;
  useAlertReload(f ? [f.serverId] : [], one.reload);
  if (!f) {
    return (
      <>
        <ErrorBox error={one.error} />
        {one.error ? null : <Loading what="the finding" />}
      </>
    );
  }
  const at = Date.parse(f.lastSeen ?? f.openedAt ?? '') || Date.now();
  return (
    <>
      <p>
        <Link href={`/findings${keepQuery(['state', 'kind', 'severity', 'server'])}`}>All findings</Link>
      </p>
      <Panel
        title={f.title}
        id="finding"
        actions={can(me, 'user') ? <Actions finding={f} onDone={one.reload} /> : undefined}
      >
        <ErrorBox error={one.error} />
        <p class="finding-meta">
          <Badge value={f.severity} /> <span>{f.kind}</span> · <strong data-state={f.state}>{f.state}</strong>
          {f.state === 'silenced' && f.silencedUntil ? ` until ${formatTime(f.silencedUntil)}` : ''}
          {f.acknowledgedBy ? ` · acknowledged by ${f.acknowledgedBy}` : ''} · {where(f)} · check {f.check}
          {f.object ? ` · ${f.object}` : ''}
        </p>
        <p class="muted">
          First seen {formatTime(f.firstSeen)}, last seen {formatTime(f.lastSeen)}
          {f.resolvedAt ? `, resolved ${formatTime(f.resolvedAt)} (${f.resolvedReason ?? 'resolved'})` : ''}.{' '}
          <Link href={metricsHref(f.serverId, at, f.targetId)}>Metrics then</Link> ·{' '}
          <Link
            href={logsHref(f.serverId, at - quarterHourMs, Math.min(Date.now(), at + quarterHourMs), {
              // The log checks' object is the log source they judged.
              source: f.check.startsWith('logs.') ? f.object : undefined,
            })}
          >
            Logs then
          </Link>
        </p>
        {f.explanation ? <p class="finding-explanation">{f.explanation}</p> : null}
        <h3>Evidence</h3>
        <Evidence value={f.evidence ?? {}} />
        <details class="raw">
          <summary>Evidence as JSON</summary>
          <pre>{JSON.stringify(f.evidence ?? {}, null, 2)}</pre>
        </details>
        {f.action ? (
          <>
            <h3>What to do</h3>
            <CodeBlock code={f.action} label="action" />
          </>
        ) : null}
      </Panel>
      <Panel title="History" id="finding-history">
        <History history={one.data?.history ?? []} />
      </Panel>
    </>
  );
}

/** A section of a part of the API this server may not have yet: shown only when it does. */
const incidentTypes: readonly LiveMessage['type'][] = ['incident_opened', 'incident_resolved'];

/** Incidents (when this server's API has them): newest first, with their named cause. */
function IncidentSection(p: { server: number | undefined; servers: Loaded<ServerChoice[]> }) {
  const has = useData(() => apiHasPath('/incidents'), []);
  if (!has.data) return null;
  return <IncidentList {...p} />;
}

function causeLine(i: Incident): string {
  if (!i.cause) return 'No known chain explains these findings together.';
  return i.cause.chain.map((s) => s.label).join(' → ');
}

function IncidentList(p: { server: number | undefined; servers: Loaded<ServerChoice[]> }) {
  const list = useData((s) => fetchIncidents(p.server, s), [p.server]);
  useLiveReload(
    p.server !== undefined ? [p.server] : (p.servers.data ?? []).map((s) => s.serverId),
    incidentTypes,
    list.reload,
    reloadThrottleMs,
  );
  const incidents: Incident[] = list.data?.incidents ?? [];
  return (
    <Panel title="Incidents" id="section-incidents">
      <ErrorBox error={list.error} />
      {!list.data ? (
        <Loading what="incidents" />
      ) : incidents.length === 0 ? (
        <Empty>None.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Severity</th>
                <th>Incident</th>
                <th>Where</th>
                <th>State</th>
                <th>Confidence</th>
                <th>Opened</th>
              </tr>
            </thead>
            <tbody>
              {incidents.map((i) => (
                <tr key={i.id}>
                  <td>
                    <Badge value={i.severity} />
                  </td>
                  <td>
                    <strong>{i.title}</strong>
                    <br />
                    <small>
                      {causeLine(i)} ({i.members} findings)
                    </small>
                    {i.cause ? (
                      <details>
                        <summary>Why, and what to do</summary>
                        <p>{i.cause.explanation}</p>
                        <CodeBlock code={i.cause.action} label="Copy action" />
                      </details>
                    ) : null}
                  </td>
                  <td>{i.serverName ?? `server ${i.serverId}`}</td>
                  <td>{i.state}</td>
                  <td>{i.confidence === null ? '—' : `${Math.round(i.confidence * 100)} %`}</td>
                  <td>
                    <time dateTime={i.openedAt}>{formatAge(i.openedAt)}</time>
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

/** SLOs with their budget and burn rates (docs/slo.md), when this server's API has them. */
function SloSection() {
  const has = useData(() => apiHasPath('/slos'), []);
  if (!has.data) return null;
  return <SloTable />;
}

const burnText = (b: SloRow['burn'], w: '5m' | '1h' | '6h') => {
  const r = b?.[w]?.rate;
  return r === null || r === undefined ? '—' : `${r}×`;
};

function SloTable() {
  const slos = useData((s) => fetchSlos(s), []);
  return (
    <Panel title="Service level objectives" id="section-slos">
      <ErrorBox error={slos.error} />
      {!slos.data ? (
        <Loading what="service level objectives" />
      ) : slos.data.length === 0 ? (
        <Empty>None.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>SLO</th>
                <th>Where</th>
                <th>Indicator</th>
                <th>Objective</th>
                <th>SLI</th>
                <th>Budget left</th>
                <th>Burn 5 min</th>
                <th>Burn 1 h</th>
                <th>Burn 6 h</th>
                <th>Evaluated</th>
              </tr>
            </thead>
            <tbody>
              {slos.data.slice(0, 500).map((s) => (
                <tr key={s.id}>
                  <td>{s.name}</td>
                  <td>
                    {s.serverName ?? s.serverId}
                    {s.targetName ? ` / ${s.targetName}` : ''}
                  </td>
                  <td>{s.indicator}</td>
                  <td class="num">
                    {s.objective} % / {s.windowDays} d
                  </td>
                  <td class="num">{s.sli_pct === null ? '—' : `${s.sli_pct} %`}</td>
                  <td class="num">
                    {s.budget_remaining_pct === null ? '—' : `${s.budget_remaining_pct} %`}
                    {s.budgetExhausted ? ' (exhausted)' : ''}
                  </td>
                  <td class="num">{burnText(s.burn, '5m')}</td>
                  <td class="num">{burnText(s.burn, '1h')}</td>
                  <td class="num">{burnText(s.burn, '6h')}</td>
                  <td class="nowrap">{s.evaluatedAt ? formatAge(s.evaluatedAt) : 'not yet'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

export function FindingsPage({ params }: { params: Params }) {
  const servers = useData((s) => fetchServerChoices(s), []);
  const id = params.id;
  return (
    <Layout title={id ? 'Finding' : 'Findings'} timeRange={false}>
      {id === undefined ? (
        <FindingList servers={servers} />
      ) : /^\d{1,19}$/.test(id) ? (
        <FindingDetail id={id} />
      ) : (
        <p>There is no finding {id}.</p>
      )}
    </Layout>
  );
}
