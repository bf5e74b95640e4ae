/**
 * Server-side scrape targets: remote applications whose metrics (Prometheus text, OpenMetrics, JSON with a
 * mapping) the server scrapes itself and stores as family app_metric under a server entry. Viewers read
 * the definitions and their last outcome; admins add, replace, delete and scrape now. A definition's host
 * is checked against the SSRF rules (../scrape/guard.ts) when it is saved, and again at every scrape.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { maxJsonMappings } from '../../scrape/json.js';
import { parseScrapeTarget, type ScrapeTarget, scrapeBounds, scrapeDefaults } from '../../scrape/target.js';
import {
  deleteScrapeTarget,
  insertScrapeTarget,
  listScrapeTargets,
  type ScrapeTargetFields,
  type ScrapeTargetRow,
  scrapeTargetById,
  updateScrapeTarget,
} from '../../storage/queries/scrape-targets.sql.js';
import { allowList, scrapeAddressPolicy } from '../scrape/guard.js';
import type { ServerScraper } from '../scrape/scraper.js';
import { errorBody, numericIdParams } from './schemas.js';

export interface ScrapeTargetRouteOptions {
  pool: pg.Pool;
  scraper: ServerScraper;
}

const name = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,100}$' } as const;
const intBetween = ([minimum, maximum]: readonly [number, number]) =>
  ({ type: 'integer', minimum, maximum }) as const;

const mappingEntry = {
  type: 'object',
  required: ['path', 'name', 'type'],
  additionalProperties: false,
  properties: {
    path: {
      type: 'string',
      maxLength: 1100,
      description: 'dotted path into the JSON document, e.g. requests.total',
    },
    name: { type: 'string', maxLength: 200 },
    type: { type: 'string', enum: ['gauge', 'counter'] },
    unit: { type: 'string', maxLength: 32, description: 'stored as the label unit' },
    labels: { type: 'object', maxProperties: 10, additionalProperties: { type: 'string', maxLength: 200 } },
  },
} as const;

const definitionProps = {
  url: { type: 'string', minLength: 8, maxLength: 2048, description: 'http:// or https://; no credentials' },
  format: { type: 'string', enum: ['prometheus', 'json'], description: 'prometheus covers OpenMetrics too' },
  intervalMs: { ...intBetween(scrapeBounds.intervalMs), default: scrapeDefaults.intervalMs },
  timeoutMs: { ...intBetween(scrapeBounds.timeoutMs), default: scrapeDefaults.timeoutMs },
  maxBytes: { ...intBetween(scrapeBounds.maxBytes), default: scrapeDefaults.maxBytes },
  maxSeries: {
    ...intBetween(scrapeBounds.maxSeries),
    default: scrapeDefaults.maxSeries,
    description: 'series stored per scrape; the excess is dropped and counted',
  },
  jsonMapping: { type: 'array', maxItems: maxJsonMappings, items: mappingEntry },
  allowAddresses: {
    type: 'array',
    maxItems: 32,
    items: { type: 'string', maxLength: 64 },
    description: 'addresses or CIDR ranges allowed despite the SSRF rules (link-local, cloud metadata)',
  },
  enabled: { type: 'boolean', default: true },
} as const;

const dropped = { type: 'object', additionalProperties: { type: 'integer' } } as const;

const targetOut = {
  type: 'object',
  required: [
    'id',
    'name',
    'server',
    'serverId',
    'url',
    'format',
    'intervalMs',
    'timeoutMs',
    'maxBytes',
    'maxSeries',
    'allowAddresses',
    'enabled',
  ],
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    server: { type: 'string', description: 'the server entry its rows are stored under' },
    serverId: { type: 'integer' },
    url: { type: 'string' },
    format: { type: 'string' },
    intervalMs: { type: 'integer' },
    timeoutMs: { type: 'integer' },
    maxBytes: { type: 'integer' },
    maxSeries: { type: 'integer' },
    jsonMapping: { type: ['array', 'null'], items: mappingEntry },
    allowAddresses: { type: 'array', items: { type: 'string' } },
    enabled: { type: 'boolean' },
    lastScrapeAt: { type: ['string', 'null'], format: 'date-time' },
    lastOkAt: { type: ['string', 'null'], format: 'date-time' },
    lastError: { type: ['string', 'null'] },
    lastSeries: { type: ['integer', 'null'] },
    lastDropped: { type: ['integer', 'null'] },
    droppedTotal: {
      type: 'integer',
      description: 'samples dropped over all scrapes (series limit and others)',
    },
  },
} as const;

interface DefinitionBody {
  url: string;
  format: 'prometheus' | 'json';
  intervalMs: number;
  timeoutMs: number;
  maxBytes: number;
  maxSeries: number;
  jsonMapping?: unknown[];
  allowAddresses?: string[];
  enabled: boolean;
}

function out(r: ScrapeTargetRow) {
  return {
    id: r.scrape_target_id,
    name: r.name,
    server: r.server_name,
    serverId: r.server_id,
    url: r.url,
    format: r.format,
    intervalMs: r.interval_ms,
    timeoutMs: r.timeout_ms,
    maxBytes: r.max_bytes,
    maxSeries: r.max_series,
    jsonMapping: r.json_mapping,
    allowAddresses: r.allow_addresses,
    enabled: r.enabled,
    lastScrapeAt: r.last_scrape_at,
    lastOkAt: r.last_ok_at,
    lastError: r.last_error,
    lastSeries: r.last_series,
    lastDropped: r.last_dropped,
    droppedTotal: r.dropped_total,
  };
}

/** Checks a definition through the same parser as the agent's file (one set of rules), then the SSRF rules. */
async function checkedFields(targetName: string, b: DefinitionBody): Promise<ScrapeTargetFields> {
  let t: ScrapeTarget;
  try {
    t = parseScrapeTarget({
      name: targetName,
      url: b.url,
      format: b.format,
      interval_ms: b.intervalMs,
      timeout_ms: b.timeoutMs,
      max_bytes: b.maxBytes,
      max_series: b.maxSeries,
      ...(b.jsonMapping !== undefined ? { json_mapping: b.jsonMapping } : {}),
    });
  } catch (err) {
    throw new PgvigilError('SCRAPE_TARGET_INVALID', (err as Error).message);
  }
  const url = new URL(t.url);
  if (url.username !== '' || url.password !== '')
    throw new PgvigilError(
      'SCRAPE_TARGET_INVALID',
      'url: credentials in the URL are not accepted (they would be stored in clear)',
    );
  const allow = b.allowAddresses ?? [];
  try {
    allowList(allow);
  } catch (err) {
    throw new PgvigilError('SCRAPE_TARGET_INVALID', (err as Error).message);
  }
  // The SSRF rules now, for a clear answer at once; they apply again at every scrape (DNS changes).
  const policy = scrapeAddressPolicy(allow);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[] = [];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      // A host that does not resolve yet is not refused here: its scrapes fail (network) until it does.
    }
  }
  for (const a of addresses) {
    const why = policy(a);
    if (why !== undefined)
      throw new PgvigilError(
        'SCRAPE_ADDRESS_REFUSED',
        `refused: ${a === host ? why : `${host} resolves to ${why}`}`,
      );
  }
  return {
    url: t.url,
    format: t.format,
    intervalMs: t.intervalMs,
    timeoutMs: t.timeoutMs,
    maxBytes: t.maxBytes,
    maxSeries: t.maxSeries,
    jsonMapping: t.jsonMapping ?? null,
    allowAddresses: allow,
    enabled: b.enabled,
  };
}

export const scrapeTargetRoutes: FastifyPluginAsync<ScrapeTargetRouteOptions> = async (
  app,
  { pool, scraper },
) => {
  app.get(
    '/scrape-targets',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'List server-side scrape targets with their last outcome',
        tags: ['scrape'],
        response: {
          200: {
            type: 'object',
            required: ['targets'],
            properties: { targets: { type: 'array', items: targetOut } },
          },
          '4xx': errorBody,
        },
      },
    },
    async () => ({ targets: (await listScrapeTargets(pool, 1000)).map(out) }),
  );

  app.get<{ Params: { id: number } }>(
    '/scrape-targets/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One server-side scrape target',
        tags: ['scrape'],
        params: numericIdParams,
        response: { 200: targetOut, '4xx': errorBody },
      },
    },
    async (req) => {
      const row = await scrapeTargetById(pool, req.params.id);
      if (!row) throw new PgvigilError('NOT_FOUND', `no scrape target ${req.params.id}`);
      return out(row);
    },
  );

  app.post<{ Body: DefinitionBody & { name: string; server?: string } }>(
    '/scrape-targets',
    {
      config: { role: 'admin' },
      bodyLimit: 256 * 1024,
      schema: {
        summary: 'Add a server-side scrape target (Prometheus text/OpenMetrics or JSON with a mapping)',
        tags: ['scrape'],
        body: {
          type: 'object',
          required: ['name', 'url', 'format'],
          additionalProperties: false,
          properties: {
            name,
            server: {
              type: 'string',
              minLength: 1,
              maxLength: 253,
              description:
                'the server entry rows are stored under (made when absent); default: the target name',
            },
            ...definitionProps,
          },
        },
        response: { 201: targetOut, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      const fields = await checkedFields(req.body.name, req.body);
      const row = await insertScrapeTarget(pool, req.body.name, req.body.server ?? req.body.name, fields);
      if (!row)
        throw new PgvigilError(
          'SCRAPE_TARGET_EXISTS',
          `a scrape target named "${req.body.name}" exists already`,
        );
      req.log.info({ scrapeTarget: row.name, by: req.user?.name }, 'scrape target added');
      return reply.status(201).send(out(row));
    },
  );

  app.put<{ Params: { id: number }; Body: DefinitionBody }>(
    '/scrape-targets/:id',
    {
      config: { role: 'admin' },
      bodyLimit: 256 * 1024,
      schema: {
        summary: 'Replace a scrape target’s definition (its name and server entry stay)',
        tags: ['scrape'],
        params: numericIdParams,
        body: {
          type: 'object',
          required: ['url', 'format'],
          additionalProperties: false,
          properties: definitionProps,
        },
        response: { 200: targetOut, '4xx': errorBody },
      },
    },
    async (req) => {
      const current = await scrapeTargetById(pool, req.params.id);
      if (!current) throw new PgvigilError('NOT_FOUND', `no scrape target ${req.params.id}`);
      const row = await updateScrapeTarget(pool, req.params.id, await checkedFields(current.name, req.body));
      if (!row) throw new PgvigilError('NOT_FOUND', `no scrape target ${req.params.id}`);
      return out(row);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/scrape-targets/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Delete a scrape target (its stored rows stay until retention drops them)',
        tags: ['scrape'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await deleteScrapeTarget(pool, req.params.id)))
        throw new PgvigilError('NOT_FOUND', `no scrape target ${req.params.id}`);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: { id: number } }>(
    '/scrape-targets/:id/scrape',
    {
      config: { role: 'admin' },
      schema: {
        summary:
          'Scrape a target now and store what it serves; the outcome (a refusal names the address and rule)',
        tags: ['scrape'],
        params: numericIdParams,
        response: {
          200: {
            type: 'object',
            required: ['ok', 'series', 'dropped', 'durationMs'],
            properties: {
              ok: { type: 'boolean' },
              series: { type: 'integer' },
              dropped,
              durationMs: { type: 'number' },
              error: { type: 'string' },
              failure: {
                type: 'string',
                enum: ['refused', 'timeout', 'too-large', 'http', 'network', 'redirect', 'parse', 'store'],
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const row = await scrapeTargetById(pool, req.params.id);
      if (!row) throw new PgvigilError('NOT_FOUND', `no scrape target ${req.params.id}`);
      return scraper.scrape(row);
    },
  );
};
