import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { lazySchemas } from './lazy-schemas.js';

const itemRoute = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: { name: { type: 'string', maxLength: 5 }, size: { type: 'integer', default: 1 } },
  },
  querystring: { type: 'object', properties: { n: { type: 'integer' } } },
  response: {
    200: {
      type: 'object',
      properties: { name: { type: 'string' }, size: { type: 'integer' }, n: { type: 'integer' } },
    },
  },
};

function app(withLazy: boolean): { app: FastifyInstance; schemas: ReturnType<typeof lazySchemas> } {
  const schemas = lazySchemas();
  const a = Fastify(withLazy ? { schemaController: { compilersFactory: schemas.compilersFactory } } : {});
  a.post('/items', { schema: itemRoute }, async (req) => ({
    ...(req.body as object),
    n: (req.query as { n?: number }).n,
    secret: 'never serialized',
  }));
  a.get(
    '/headers',
    {
      schema: {
        headers: {
          type: 'object',
          required: ['X-Token'],
          properties: { 'X-Token': { type: 'string', minLength: 3 } },
        },
      },
    },
    async () => ({ ok: true }),
  );
  a.get(
    '/other',
    { schema: { querystring: itemRoute.querystring, response: itemRoute.response } },
    async () => ({
      name: 'x',
    }),
  );
  return { app: a, schemas };
}

const requests = [
  { method: 'POST', url: '/items?n=7', payload: { name: 'ab' } },
  { method: 'POST', url: '/items?n=seven', payload: { name: 'ab' } },
  { method: 'POST', url: '/items', payload: { name: 'too long' } },
  { method: 'POST', url: '/items', payload: { name: 'ab', extra: 1 } },
  { method: 'POST', url: '/items', payload: {} },
  { method: 'POST', url: '/items', payload: { name: 'ab', size: '3' } },
  { method: 'GET', url: '/headers', headers: { 'x-token': 'abcd' } },
  { method: 'GET', url: '/headers', headers: { 'X-Token': 'ab' } },
  { method: 'GET', url: '/headers' },
] as const;

test('answers_are_those_of_fastifys_own_compilers_and_schemas_compile_when_first_used', async () => {
  const lazy = app(true);
  const eager = app(false);
  await lazy.app.ready();
  await eager.app.ready();
  // POST /items has a body, a query and a response schema; GET /other and the HEAD fastify adds for it a
  // query and a response schema each; GET /headers and its HEAD a headers schema each.
  assert.equal(lazy.schemas.pending(), 9);
  for (const r of requests) {
    const [a, b] = [await lazy.app.inject(r), await eager.app.inject(r)];
    assert.equal(a.statusCode, b.statusCode, JSON.stringify(r));
    assert.equal(a.body, b.body, JSON.stringify(r));
  }
  // Coercion and defaults as fastify's own; the handler's extra field is left out by the serializer.
  const ok = await lazy.app.inject(requests[0]);
  assert.deepEqual(ok.json(), { name: 'ab', size: 1, n: 7 });
  assert.match((await lazy.app.inject(requests[2])).json().message, /body\/name must NOT have more than 5/);
  assert.equal(lazy.schemas.pending(), 5, 'the routes not called yet keep their schemas uncompiled');
  await lazy.schemas.compileAll();
  assert.equal(lazy.schemas.pending(), 0);
  assert.equal((await lazy.app.inject({ method: 'GET', url: '/other?n=2' })).body, '{"name":"x"}');
  await lazy.app.close();
  await eager.app.close();
});

test('a_schema_that_does_not_compile_is_reported_by_compile_all', async () => {
  const schemas = lazySchemas();
  const a = Fastify({ schemaController: { compilersFactory: schemas.compilersFactory } });
  a.get(
    '/bad',
    { schema: { querystring: { type: 'object', properties: { n: { type: 'no-such-type' } } } } },
    async () => ({}),
  );
  await a.ready();
  await assert.rejects(schemas.compileAll(), /no-such-type|type must be/);
  await a.close();
});
