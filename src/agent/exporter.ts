/**
 * The agent's Prometheus endpoint: `GET /metrics` in the text exposition format 0.0.4, on node:http (no
 * framework, to keep the agent small).
 *
 * Guarantees:
 * - every metric has one HELP and one TYPE line and all its samples together (promtool-clean), names
 *   sorted so the output is stable;
 * - label values and help texts are escaped as the format requires;
 * - serving a scrape reads nothing from the host: it renders the collectors' latest results (collected
 *   on their interval by the scheduler), so a scraper cannot add load by scraping often;
 * - a listen address already in use is a PORT_IN_USE error, not a crash.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenError } from '../errors.js';
import type { Logger } from '../log.js';
import { escapeHelp, escapeLabelValue, formatValue } from '../telemetry/prometheus-text.js';
import type { ExposedMetric } from './collectors/types.js';

export { formatValue };

export const expositionContentType = 'text/plain; version=0.0.4; charset=utf-8';

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Label names already checked: the same few names come back on every scrape. */
const checkedLabelNames = new Set<string>();

/**
 * Renders metrics in the text format. Metrics of the same name are merged (first HELP and TYPE win);
 * an invalid metric or label name is a programming error and throws.
 */
export function renderExposition(metrics: ExposedMetric[]): string {
  const byName = new Map<string, ExposedMetric>();
  for (const m of metrics) {
    const seen = byName.get(m.name);
    if (seen) {
      byName.set(m.name, { ...seen, samples: [...seen.samples, ...m.samples] });
      continue;
    }
    if (!metricName.test(m.name)) throw new Error(`invalid metric name ${JSON.stringify(m.name)}`);
    byName.set(m.name, m);
  }
  let out = '';
  for (const name of [...byName.keys()].sort()) {
    const m = byName.get(name)!;
    if (m.samples.length === 0) continue;
    out += `# HELP ${name} ${escapeHelp(m.help)}\n# TYPE ${name} ${m.type}\n`;
    for (const s of m.samples) {
      out += name;
      if (s.labels) {
        let first = true;
        for (const k in s.labels) {
          if (!checkedLabelNames.has(k)) {
            if (!labelName.test(k)) throw new Error(`invalid label name ${JSON.stringify(k)} on ${name}`);
            checkedLabelNames.add(k);
          }
          out += `${first ? '{' : ','}${k}="${escapeLabelValue(s.labels[k]!)}"`;
          first = false;
        }
        if (!first) out += '}';
      }
      out += ` ${formatValue(s.value)}\n`;
    }
  }
  return out;
}

/** The agent process's own standard metrics (as every Prometheus client library exposes them). */
export function selfExposition(version: string): ExposedMetric[] {
  const cpu = process.cpuUsage();
  const startSeconds = Date.now() / 1000 - process.uptime();
  return [
    {
      name: 'process_cpu_seconds_total',
      help: 'Total user and system CPU time spent in seconds.',
      type: 'counter',
      samples: [{ value: (cpu.user + cpu.system) / 1e6 }],
    },
    {
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      type: 'gauge',
      samples: [{ value: process.memoryUsage.rss() }],
    },
    {
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
      type: 'gauge',
      samples: [{ value: Math.round(startSeconds * 100) / 100 }],
    },
    {
      name: 'pgvigil_agent_info',
      help: "The pgvigil agent's version (always 1).",
      type: 'gauge',
      samples: [{ labels: { version, nodejs: process.versions.node }, value: 1 }],
    },
  ];
}

export interface ExporterOptions {
  host: string;
  port: number;
  /** What to serve: the metrics as of now. */
  metrics: () => ExposedMetric[];
  log: Logger;
}

export interface Exporter {
  /** http://host:port (the actual port when 0 was asked for). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const landingPage = `<!doctype html>
<html><head><title>pgvigil agent</title></head>
<body><h1>pgvigil agent</h1><p><a href="/metrics">Metrics</a></p></body></html>
`;

export async function startExporter(options: ExporterOptions): Promise<Exporter> {
  const { log } = options;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      let body: string;
      try {
        body = renderExposition(options.metrics());
      } catch (err) {
        log.error({ err }, 'rendering /metrics failed');
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end('rendering metrics failed; see the agent log\n');
        return;
      }
      res.writeHead(200, {
        'content-type': expositionContentType,
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(landingPage);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
  };
  const server: Server = createServer(handle);
  // Scrapers reconnect often; do not keep idle sockets (and their memory) around for long.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw listenError(err, options.host, options.port, '--listen');
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
