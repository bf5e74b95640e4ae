/**
 * One host (`/servers/:server`), as Netdata's per-host charts and Grafana's node_exporter dashboard: who
 * reports it and what it runs, then CPU by mode, memory, load, pressure stall, disk I/O and latency,
 * filesystems with a fill forecast, network, watched processes and containers.
 *
 * Each section loads on its own (one /series request feeds one section, whatever number of charts it
 * draws), so a slow family does not hold the others back and a section re-renders alone when its data
 * comes. Devices, interfaces, watches and containers are bounded to the busiest `top` of them. The current
 * facts (GET /servers/:id/node) are fetched once per reload and shared by the sections that need them.
 */
import { useMemo, useState } from 'preact/hooks';
import {
  ApiError,
  type Container,
  countOpenFindings,
  fetchContainers,
  fetchNode,
  fetchSeries,
  fetchServer,
  type NodeNow,
  type Series,
  type SeriesQuery,
  type SeriesResponse,
} from '../api';
import { Chart, type ChartSeries } from '../components/Chart';
import { Layout } from '../components/Layout';
import { Badge, Empty, ErrorBox, Link, Loading, Panel } from '../components/ui';
import { useData } from '../data';
import { type Fill, fillForecast, minFillPoints, minFillSpanMs } from '../forecast';
import { formatAge, formatBytes, formatDuration, formatValue, type Unit } from '../format';
import { samples, useLiveReload } from '../live';
import { keepQuery, type Params } from '../router';
import { rangeKey, useTimeRange } from '../time';

/** Devices, interfaces, watches and containers drawn at most (the busiest ones). */
const top = 8;
/** Points per series asked for at most: about the width of a chart in pixels. */
const maxPoints = 800;

export function HostPage({ params }: { params: Params }) {
  const server = Number(params.server);
  if (!Number.isSafeInteger(server) || server < 1) {
    return (
      <Layout title="Host">
        <p>There is no server "{params.server}".</p>
      </Layout>
    );
  }
  return <HostView server={server} />;
}

/** What a section needs to load: the server, the range, and a key that changes when it must reload. */
interface Ctx {
  server: number;
  from: number;
  to: number;
  key: string;
  node: () => Promise<NodeNow>;
}

function HostView({ server }: { server: number }) {
  const range = useTimeRange();
  const [nonce, setNonce] = useState(0);
  // A sample of this server arrived: reload a live range, at most once per 10 s.
  useLiveReload([server], samples, () => {
    if (range.live) setNonce((n) => n + 1);
  });
  // A live range moves every render; its key only when the range's refresh is due (or a sample came).
  const key = `${server}|${rangeKey(range)}|${nonce}`;
  const ctx = useMemo<Ctx>(() => {
    let node: Promise<NodeNow> | undefined;
    return {
      server,
      from: range.from,
      to: range.to,
      key,
      node: () => {
        node ??= fetchNode(server);
        // One failure must not poison the next reload: a fresh ctx is made per key anyway.
        return node;
      },
    };
  }, [key]);

  return (
    <Layout title="Host">
      <div class="host-page">
        <HostHeader ctx={ctx} />
        <div class="grid">
          <CpuPanel ctx={ctx} />
          <MemoryPanel ctx={ctx} />
          <LoadPanel ctx={ctx} />
          <PressurePanel ctx={ctx} />
        </div>
        <DiskPanel ctx={ctx} />
        <FilesystemPanel ctx={ctx} />
        <NetworkPanel ctx={ctx} />
        <ProcessPanel ctx={ctx} />
        <ContainerPanel ctx={ctx} />
      </div>
    </Layout>
  );
}

// ---- header ----

function HostHeader({ ctx }: { ctx: Ctx }) {
  const info = useData((signal) => fetchServer(ctx.server, signal), [ctx.key]);
  const findings = useData((signal) => countOpenFindings(ctx.server, signal), [ctx.key]);
  const q = keepQuery();
  if (!info.data) {
    return (
      <section class="panel host-head" aria-busy={info.loading}>
        {info.error ? <ErrorBox error={info.error} /> : <Loading what="the server" />}
      </section>
    );
  }
  const s = info.data;
  const f = findings.data;
  return (
    <section class="panel host-head" aria-labelledby="host-name" aria-busy={info.loading}>
      <div class="host-title">
        <h2 id="host-name">{s.name}</h2>
        <Badge value={s.status} />
        <span class="muted">last seen {formatAge(s.lastSeenAt)}</span>
        <Link href={`/findings?server=${s.serverId}`} class="host-findings">
          {f ? `${f.count}${f.more ? '+' : ''} open finding${f.count === 1 ? '' : 's'}` : 'Findings'}
        </Link>
      </div>
      <div class="host-facts">
        <div>
          <h3>Agents</h3>
          {s.agents.length === 0 ? (
            <Empty>No agent reports this server.</Empty>
          ) : (
            <ul class="plain">
              {s.agents.map((a) => (
                <li key={a.agentId}>
                  {a.hostname} · {a.os ?? 'unknown OS'} · agent {a.version ?? '?'} · last seen{' '}
                  {formatAge(a.lastSeenAt)}
                  {a.revokedAt ? ' · revoked' : ''}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          <h3>PostgreSQL</h3>
          {s.targets.length === 0 ? (
            <Empty>No PostgreSQL is watched on this server.</Empty>
          ) : (
            <ul class="plain">
              {s.targets.map((t) => (
                <li key={t.targetId}>
                  <Link href={`/servers/${s.serverId}/postgres/${t.targetId}${q}`}>{t.name}</Link>{' '}
                  <Badge value={t.status} /> {t.serverVersion ? `PostgreSQL ${t.serverVersion}` : ''}
                  {t.inRecovery ? ' · standby' : ''}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      {s.degraded.length > 0 ? (
        <ul class="plain host-degraded">
          {s.degraded.slice(0, 10).map((d) => (
            <li key={`${d.source}:${d.name}`}>
              <Badge value="degraded" /> {d.source} {d.name}
              {d.error ? `: ${d.error}` : ''}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

// ---- series helpers ----

interface Loaded {
  resp: SeriesResponse;
  from: number;
  to: number;
}

function loadSeries(
  ctx: Ctx,
  q: Omit<SeriesQuery, 'server' | 'from' | 'to'>,
  signal: AbortSignal,
): Promise<Loaded> {
  // No more points than a chart has pixels across (as Grafana's max data points): 24 h in 2-min steps.
  const step = `${Math.max(1, Math.ceil((ctx.to - ctx.from) / 1000 / maxPoints))}s`;
  return fetchSeries({ ...q, server: ctx.server, from: ctx.from, to: ctx.to, step }, signal).then((resp) => ({
    resp,
    from: ctx.from,
    to: ctx.to,
  }));
}

/**
 * Every device (or interface) at once: a host has a handful, and the busiest are picked from the answer.
 * A host with so many that the answer is refused as too large gets the busiest of the current snapshot
 * instead (a second request, only then).
 */
async function loadBusiest(
  ctx: Ctx,
  q: Omit<SeriesQuery, 'server' | 'from' | 'to' | 'label'>,
  key: string,
  busyNow: (node: NodeNow) => string[],
  signal: AbortSignal,
): Promise<Loaded> {
  try {
    return await loadSeries(ctx, q, signal);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 400) throw err;
    const names = busyNow(await ctx.node());
    return loadSeries(ctx, { ...q, label: names.map((n) => `${key}:${n}`) }, signal);
  }
}

/** The series of one metric, each named by `name(labels)`. */
function pick(resp: SeriesResponse, metric: string, name: (s: Series) => string): ChartSeries[] {
  return resp.series.filter((s) => s.metric === metric).map((s) => ({ label: name(s), points: s.points }));
}

/** Sums series of the same label set (rx + tx errors of an interface) step by step. */
function sumBy(resp: SeriesResponse, metrics: readonly string[], key: string, suffix: string): ChartSeries[] {
  const out = new Map<string, Map<number, number>>();
  for (const s of resp.series) {
    if (!metrics.includes(s.metric)) continue;
    const k = s.labels[key] ?? '';
    const m = out.get(k) ?? new Map<number, number>();
    out.set(k, m);
    for (const [t, v] of s.points) m.set(t, (m.get(t) ?? 0) + v);
  }
  return [...out].map(([k, m]) => ({
    label: `${k} ${suffix}`,
    points: [...m].sort((a, b) => a[0] - b[0]),
  }));
}

/** The `n` label values with the largest sum over `metrics` (the busiest devices over the range). */
function busiest(resp: SeriesResponse, key: string, metrics: readonly string[], n = top): Set<string> {
  const totals = new Map<string, number>();
  for (const s of resp.series) {
    if (!metrics.includes(s.metric)) continue;
    const k = s.labels[key] ?? '';
    let sum = totals.get(k) ?? 0;
    for (const [, v] of s.points) sum += v;
    totals.set(k, sum);
  }
  return new Set(
    [...totals]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k]) => k),
  );
}

/** The `n` rows of a current snapshot with the largest `score` (label values to ask /series for). */
function topNow(
  rows: readonly Record<string, unknown>[] | undefined,
  key: string,
  score: string[],
): string[] {
  if (!rows) return [];
  return rows
    .map((r) => ({ k: String(r[key]), v: score.reduce((a, c) => a + (Number(r[c]) || 0), 0) }))
    .sort((a, b) => b.v - a.v)
    .slice(0, top)
    .map((x) => x.k);
}

function SeriesChart(p: { title: string; unit: Unit; loaded: Loaded; series: ChartSeries[]; max?: number }) {
  return (
    <Chart
      title={p.title}
      unit={p.unit}
      series={p.series}
      from={p.loaded.from}
      to={p.loaded.to}
      stepSeconds={p.loaded.resp.stepSeconds}
      max={p.max}
    />
  );
}

/** A section's frame while it loads or failed; undefined once there is data to show. */
function pending(l: { data?: unknown; error?: Error; loading: boolean }, what: string) {
  if (l.data) return undefined;
  return l.error ? <ErrorBox error={l.error} /> : <Loading what={what} />;
}

// ---- sections ----

const cpuModes = ['user', 'nice', 'system', 'iowait', 'irq', 'softirq', 'steal'] as const;

function CpuPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    (signal) =>
      loadSeries(
        ctx,
        { family: 'host_cpu', metrics: cpuModes.map((m) => `${m}_pct`), label: ['cpu:total'] },
        signal,
      ),
    [ctx.key],
  );
  return (
    <Panel title="CPU" id="cpu">
      <div aria-busy={l.loading}>
        {pending(l, 'CPU') ??
          (l.data && (
            <SeriesChart
              title="CPU by mode (% of all cores)"
              unit="percent"
              loaded={l.data}
              series={cpuModes.map((m) => ({
                label: m,
                points: l.data!.resp.series.find((s) => s.metric === `${m}_pct`)?.points ?? [],
              }))}
            />
          ))}
      </div>
    </Panel>
  );
}

const memoryMetrics = [
  ['used_bytes', 'used'],
  ['cached_bytes', 'cached'],
  ['buffers_bytes', 'buffers'],
  ['available_bytes', 'available'],
  ['swap_used_bytes', 'swap used'],
] as const;

function MemoryPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    (signal) =>
      loadSeries(
        ctx,
        { family: 'host_memory', metrics: [...memoryMetrics.map((m) => m[0]), 'total_bytes'] },
        signal,
      ),
    [ctx.key],
  );
  const total = l.data?.resp.series.find((s) => s.metric === 'total_bytes')?.points.at(-1)?.[1];
  return (
    <Panel
      title="Memory"
      id="memory"
      actions={total !== undefined ? <span class="muted">{formatBytes(total)} in all</span> : null}
    >
      <div aria-busy={l.loading}>
        {pending(l, 'memory') ??
          (l.data && (
            <SeriesChart
              title="Memory and swap"
              unit="bytes"
              loaded={l.data}
              series={memoryMetrics.map(([m, label]) => ({
                label,
                points: l.data!.resp.series.find((s) => s.metric === m)?.points ?? [],
              }))}
            />
          ))}
      </div>
    </Panel>
  );
}

function LoadPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    (signal) => loadSeries(ctx, { family: 'host_load', metrics: ['load1', 'load5', 'load15'] }, signal),
    [ctx.key],
  );
  return (
    <Panel title="Load" id="load">
      <div aria-busy={l.loading}>
        {pending(l, 'load') ??
          (l.data && (
            <SeriesChart
              title="Load average"
              unit="count"
              loaded={l.data}
              series={[
                ...pick(l.data.resp, 'load1', () => '1 min'),
                ...pick(l.data.resp, 'load5', () => '5 min'),
                ...pick(l.data.resp, 'load15', () => '15 min'),
              ]}
            />
          ))}
      </div>
    </Panel>
  );
}

function PressurePanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    (signal) =>
      loadSeries(ctx, { family: 'host_pressure', metrics: ['some_stall_pct', 'full_stall_pct'] }, signal),
    [ctx.key],
  );
  return (
    <Panel title="Pressure stall" id="pressure">
      <div aria-busy={l.loading}>
        {pending(l, 'pressure stall') ??
          (l.data && l.data.resp.series.length === 0 ? (
            <Empty>No pressure stall information in this range (the kernel needs PSI, Linux 4.20+).</Empty>
          ) : (
            l.data && (
              <SeriesChart
                title="Time stalled (% of the interval)"
                unit="percent"
                loaded={l.data}
                series={[
                  ...pick(l.data.resp, 'some_stall_pct', (s) => `${s.labels.resource} some`),
                  ...pick(l.data.resp, 'full_stall_pct', (s) => `${s.labels.resource} full`),
                ]}
              />
            )
          ))}
      </div>
    </Panel>
  );
}

const diskRate = ['read_bytes_per_s', 'write_bytes_per_s', 'reads_per_s', 'writes_per_s'];

function DiskPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    (signal) =>
      loadBusiest(
        ctx,
        { family: 'host_disk', metrics: [...diskRate, 'read_await_ms', 'write_await_ms'] },
        'device',
        (node) => topNow(node.disks?.devices, 'device', diskRate),
        signal,
      ),
    [ctx.key],
  );
  const view = useMemo(() => {
    if (!l.data) return undefined;
    const r = l.data.resp;
    const keep = busiest(r, 'device', diskRate);
    const only = { ...r, series: r.series.filter((s) => keep.has(s.labels.device ?? '')) };
    const dev = (what: string) => (s: Series) => `${s.labels.device} ${what}`;
    return {
      devices: keep.size,
      ops: [...pick(only, 'reads_per_s', dev('reads')), ...pick(only, 'writes_per_s', dev('writes'))],
      bytes: [
        ...pick(only, 'read_bytes_per_s', dev('read')),
        ...pick(only, 'write_bytes_per_s', dev('written')),
      ],
      wait: [...pick(only, 'read_await_ms', dev('read')), ...pick(only, 'write_await_ms', dev('write'))],
    };
  }, [l.data]);
  return (
    <Panel
      title="Disk I/O"
      id="disks"
      actions={view && view.devices >= top ? <span class="muted">the {top} busiest devices</span> : null}
    >
      <div aria-busy={l.loading}>
        {pending(l, 'disk I/O') ??
          (view && l.data && view.devices === 0 ? (
            <Empty>No block device I/O in this range.</Empty>
          ) : (
            view &&
            l.data && (
              <div class="grid host-charts">
                <SeriesChart title="Operations per second" unit="perSec" loaded={l.data} series={view.ops} />
                <SeriesChart title="Throughput" unit="bytesPerSec" loaded={l.data} series={view.bytes} />
                <SeriesChart title="Latency (await)" unit="ms" loaded={l.data} series={view.wait} />
              </div>
            )
          ))}
      </div>
    </Panel>
  );
}

const netRate = ['rx_bytes_per_s', 'tx_bytes_per_s'];
const netErrors = ['rx_errors_per_s', 'tx_errors_per_s', 'rx_drops_per_s', 'tx_drops_per_s'];

function NetworkPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    (signal) =>
      loadBusiest(
        ctx,
        { family: 'host_network', metrics: [...netRate, ...netErrors] },
        'interface',
        (node) => topNow(node.network?.interfaces, 'interface', netRate),
        signal,
      ),
    [ctx.key],
  );
  const view = useMemo(() => {
    if (!l.data) return undefined;
    const r = l.data.resp;
    const keep = busiest(r, 'interface', netRate);
    const only = { ...r, series: r.series.filter((s) => keep.has(s.labels.interface ?? '')) };
    return {
      interfaces: keep.size,
      bytes: [
        ...pick(only, 'rx_bytes_per_s', (s) => `${s.labels.interface} in`),
        ...pick(only, 'tx_bytes_per_s', (s) => `${s.labels.interface} out`),
      ],
      errors: [
        ...sumBy(only, ['rx_errors_per_s', 'tx_errors_per_s'], 'interface', 'errors'),
        ...sumBy(only, ['rx_drops_per_s', 'tx_drops_per_s'], 'interface', 'drops'),
      ],
    };
  }, [l.data]);
  return (
    <Panel
      title="Network"
      id="network"
      actions={
        view && view.interfaces >= top ? <span class="muted">the {top} busiest interfaces</span> : null
      }
    >
      <div aria-busy={l.loading}>
        {pending(l, 'network') ??
          (view && l.data && view.interfaces === 0 ? (
            <Empty>No network traffic in this range.</Empty>
          ) : (
            view &&
            l.data && (
              <div class="grid host-charts">
                <SeriesChart title="Traffic" unit="bytesPerSec" loaded={l.data} series={view.bytes} />
                <SeriesChart title="Errors and drops" unit="perSec" loaded={l.data} series={view.errors} />
              </div>
            )
          ))}
      </div>
    </Panel>
  );
}

function fillText(f: Fill): string {
  switch (f.kind) {
    case 'too-few':
      return `no forecast (${f.points} of ${minFillPoints} points needed)`;
    case 'too-short':
      return `no forecast (${formatDuration(f.spanMs)} of data; ${formatDuration(minFillSpanMs)} needed)`;
    case 'not-filling':
      return 'not filling';
    case 'unsteady':
      return 'no steady trend';
    case 'filling':
      return `full in ${formatDuration(f.fullInMs)} (+${formatBytes(f.bytesPerDay)}/day)`;
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const pctOf = (part: number | undefined, whole: number | undefined) =>
  part !== undefined && whole ? (part / whole) * 100 : undefined;

function FilesystemPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    async (signal) => {
      const node = await ctx.node();
      // /series takes 20 label values of up to 300 characters.
      const mounts = (node.filesystems?.mounts ?? [])
        .filter((m) => String(m.mountpoint).length < 280)
        .slice(0, 20);
      if (mounts.length === 0) return { mounts, used: undefined };
      const used = await loadSeries(
        ctx,
        {
          family: 'host_filesystem',
          metrics: ['used_bytes'],
          label: mounts.map((m) => `mountpoint:${String(m.mountpoint)}`),
        },
        signal,
      );
      return { mounts, used };
    },
    [ctx.key],
  );
  return (
    <Panel title="Filesystems" id="filesystems">
      <div aria-busy={l.loading}>
        {pending(l, 'filesystems') ??
          (l.data && l.data.mounts.length === 0 ? (
            <Empty>No filesystem was reported in the last 10 minutes.</Empty>
          ) : (
            l.data && (
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Filesystems with space, inodes and fill forecast</caption>
                  <thead>
                    <tr>
                      <th scope="col">Mount point</th>
                      <th scope="col">Device</th>
                      <th scope="col">Type</th>
                      <th scope="col" class="num">
                        Size
                      </th>
                      <th scope="col" class="num">
                        Used
                      </th>
                      <th scope="col" class="num">
                        Available
                      </th>
                      <th scope="col" class="num">
                        Use
                      </th>
                      <th scope="col" class="num">
                        Inodes used
                      </th>
                      <th scope="col">Forecast over this range</th>
                    </tr>
                  </thead>
                  <tbody>
                    {l.data.mounts.map((m) => {
                      const size = num(m.size_bytes);
                      const used = num(m.used_bytes);
                      const avail = num(m.avail_bytes);
                      // As df: used of what an unprivileged user can have (reserved blocks left out).
                      const use = pctOf(
                        used,
                        used !== undefined && avail !== undefined ? used + avail : undefined,
                      );
                      const ipct = pctOf(num(m.inodes_used), num(m.inodes_total));
                      const pts =
                        l.data!.used?.resp.series.find((s) => s.labels.mountpoint === m.mountpoint)?.points ??
                        [];
                      const fill = fillForecast(pts, avail ?? 0, size ?? 0);
                      return (
                        <tr key={String(m.mountpoint)}>
                          <td>{String(m.mountpoint)}</td>
                          <td>{String(m.device ?? '—')}</td>
                          <td>{String(m.fstype ?? '—')}</td>
                          <td class="num">{formatValue('bytes', size)}</td>
                          <td class="num">{formatValue('bytes', used)}</td>
                          <td class="num">{formatValue('bytes', avail)}</td>
                          <td class="num">{formatValue('percent', use)}</td>
                          <td class="num">{formatValue('percent', ipct)}</td>
                          <td class={fill.kind === 'filling' ? 'fill-warn' : 'muted'}>{fillText(fill)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )
          ))}
      </div>
    </Panel>
  );
}

function ProcessPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    async (signal) => {
      const node = await ctx.node();
      const watches = node.processes?.watches ?? [];
      if (watches.length === 0) return { watches, series: undefined };
      const names = topNow(watches, 'watch', ['cpu_pct']);
      const series = await loadSeries(
        ctx,
        {
          family: 'host_process',
          metrics: ['cpu_pct', 'rss_bytes'],
          label: names.map((w) => `watch:${w}`),
        },
        signal,
      );
      return { watches, series };
    },
    [ctx.key],
  );
  return (
    <Panel title="Watched processes" id="processes">
      <div aria-busy={l.loading}>
        {pending(l, 'watched processes') ??
          (l.data && l.data.watches.length === 0 ? (
            <Empty>
              This host's agent watches no processes (start it with <code>--watch-process NAME</code>).
            </Empty>
          ) : (
            l.data && (
              <>
                <div class="table-wrap">
                  <table>
                    <caption class="sr-only">Watched processes now</caption>
                    <thead>
                      <tr>
                        <th scope="col">Watch</th>
                        <th scope="col">State</th>
                        <th scope="col" class="num">
                          Processes
                        </th>
                        <th scope="col" class="num">
                          CPU
                        </th>
                        <th scope="col" class="num">
                          Resident memory
                        </th>
                        <th scope="col" class="num">
                          Open files
                        </th>
                        <th scope="col" class="num">
                          Threads
                        </th>
                        <th scope="col" class="num">
                          Up for
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {l.data.watches.map((w) => (
                        <tr key={String(w.watch)}>
                          <td>{String(w.watch)}</td>
                          <td>
                            {w.state === 'missing' ? <Badge value="down" /> : null} {String(w.state ?? '—')}
                          </td>
                          <td class="num">{formatValue('count', num(w.processes))}</td>
                          <td class="num">{formatValue('percent', num(w.cpu_pct))}</td>
                          <td class="num">{formatValue('bytes', num(w.rss_bytes))}</td>
                          <td class="num">{formatValue('count', num(w.fds))}</td>
                          <td class="num">{formatValue('count', num(w.threads))}</td>
                          <td class="num">{formatValue('seconds', num(w.uptime_s))}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                {l.data.series ? (
                  <div class="grid host-charts">
                    <SeriesChart
                      title="CPU (% of one core)"
                      unit="percent"
                      loaded={l.data.series}
                      series={pick(l.data.series.resp, 'cpu_pct', (s) => s.labels.watch ?? '')}
                    />
                    <SeriesChart
                      title="Resident memory"
                      unit="bytes"
                      loaded={l.data.series}
                      series={pick(l.data.series.resp, 'rss_bytes', (s) => s.labels.watch ?? '')}
                    />
                  </div>
                ) : null}
              </>
            )
          ))}
      </div>
    </Panel>
  );
}

const shortId = (c: { runtime: string; id: string }) =>
  c.runtime === 'systemd-nspawn' ? c.id : c.id.slice(0, 12);

function ContainerPanel({ ctx }: { ctx: Ctx }) {
  const l = useData(
    async (signal) => {
      const { containers } = await fetchContainers(ctx.server, signal);
      if (containers.length === 0) return { containers, series: undefined };
      const busy = topNow(
        containers.filter((c) => c.present),
        'id',
        ['cpu_pct'],
      );
      const series =
        busy.length === 0
          ? undefined
          : await loadSeries(
              ctx,
              {
                family: 'host_container',
                metrics: ['cpu_pct', 'memory_current_bytes'],
                label: busy.map((id) => `id:${id}`),
              },
              signal,
            );
      return { containers, series };
    },
    [ctx.key],
  );
  const name = (s: Series) => shortId({ runtime: s.labels.runtime ?? '', id: s.labels.id ?? '' });
  return (
    <Panel title="Containers" id="containers">
      <div aria-busy={l.loading}>
        {pending(l, 'containers') ??
          (l.data && l.data.containers.length === 0 ? (
            <Empty>No containers were seen on this host in the last 10 minutes.</Empty>
          ) : (
            l.data && (
              <>
                <ContainerTable containers={l.data.containers} />
                {l.data.series ? (
                  <div class="grid host-charts">
                    <SeriesChart
                      title="Container CPU (% of one core)"
                      unit="percent"
                      loaded={l.data.series}
                      series={pick(l.data.series.resp, 'cpu_pct', name)}
                    />
                    <SeriesChart
                      title="Container memory"
                      unit="bytes"
                      loaded={l.data.series}
                      series={pick(l.data.series.resp, 'memory_current_bytes', name)}
                    />
                  </div>
                ) : null}
              </>
            )
          ))}
      </div>
    </Panel>
  );
}

function ContainerTable({ containers }: { containers: Container[] }) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Containers with their newest metrics</caption>
        <thead>
          <tr>
            <th scope="col">Container</th>
            <th scope="col">Runtime</th>
            <th scope="col">Running</th>
            <th scope="col" class="num">
              CPU
            </th>
            <th scope="col" class="num">
              Memory
            </th>
            <th scope="col" class="num">
              Limit
            </th>
            <th scope="col" class="num">
              Tasks
            </th>
          </tr>
        </thead>
        <tbody>
          {containers.map((c) => (
            <tr key={`${c.runtime}:${c.id}`}>
              <td title={c.id}>{shortId(c)}</td>
              <td>{c.runtime}</td>
              <td>{c.present ? 'yes' : `gone (seen ${formatAge(c.ts)})`}</td>
              <td class="num">{formatValue('percent', num(c.cpu_pct))}</td>
              <td class="num">{formatValue('bytes', num(c.memory_current_bytes))}</td>
              <td class="num">
                {num(c.memory_limit_bytes) === undefined
                  ? 'none'
                  : formatValue('bytes', num(c.memory_limit_bytes))}
              </td>
              <td class="num">{formatValue('count', num(c.pids))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
