/**
 * Hostile and broken input against a real server on loopback with a real store: each case gets its 4xx
 * with a documented code naming what was wrong, and the server serves on (health 200, a good batch
 * accepted) in the same process. Also: batch conflicts and sequence regressions, sign-in logging, and
 * the process safety net.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { errorCodes } from '../src/errors.js';
import { batchMediaType } from '../src/protocol/batch.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';
import { createTestUser, roleHeaders } from './helpers/users.js';

let ts: TestStore;
let server: App;
let base: string;
const logLines: Array<Record<string, unknown>> = [];

interface Agent {
  agentId: string;
  credential: string;
  serverId: number;
}
let agent: Agent;
let seq = 1;

before(async () => {
  ts = await createTestStore('hostile');
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  server = await buildServerApp({
    store: ts.store,
    log: pino({ level: 'info' }, sink),
    latestMigration: ts.latest,
    credentialCacheMs: 0,
    loginLimit: { perSecond: 0.01, burst: 3 },
  });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  agent = await enroll('hostile-host');
});

async function enroll(hostname: string): Promise<Agent> {
  const { token } = await createEnrollToken(ts.store.pool, {});
  const res = await fetch(`${base}/api/v1/agents/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, hostname }),
  });
  return (await res.json()) as Agent;
}

after(async () => {
  await server.app.close();
  await ts.close();
});

/** A good batch's JSON text; `extra` is spliced in as raw JSON members (so it may be nested 5000 deep). */
function batchText(n: number, extra = '', families?: string): string {
  const now = Date.now();
  const fams =
    families ??
    `{"host_load":{"columns":["ts","load1","load5","load15"],"rows":[[${now - n},0.5,0.25,0.125]]}}`;
  return `{"v":1,"agentId":"${agent.agentId}","seq":${n},"sealedAt":${now},"families":${fams}${extra}}`;
}

async function push(
  text: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { status?: string; error?: { code: string; message: string } } }> {
  const res = await fetch(`${base}/api/v1/ingest`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent.credential}`,
      'content-type': batchMediaType,
      'content-encoding': 'gzip',
      ...headers,
    },
    body: gzipSync(Buffer.from(text)),
  });
  return { status: res.status, body: (await res.json()) as never };
}

async function get(
  path: string,
): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  const res = await fetch(`${base}${path}`, { headers: await roleHeaders(ts.store.pool, 'viewer') });
  return { status: res.status, body: (await res.json()) as never };
}

async function servesOn(): Promise<void> {
  const health = await fetch(`${base}/api/v1/health`);
  assert.equal(health.status, 200, 'health answers');
  const res = await push(batchText(++seq));
  assert.equal(res.status, 200, `a good batch afterwards: ${JSON.stringify(res.body)}`);
}

function refused(
  res: { status: number; body: { error?: { code: string; message: string } } },
  status: number,
  code: string,
  message: RegExp,
): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error?.code, code);
  assert.match(res.body.error!.message, message);
}

const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;

describe(`hostile batches (${testPgLabel})`, () => {
  test('a_status_nested_5000_deep_gets_400_naming_its_path_and_the_server_serves_on', async () => {
    refused(
      await push(batchText(++seq, `,"status":{"x":${deep(5000)}}`)),
      400,
      'BATCH_INVALID',
      /^status\.x\[0\]\[0\].*nested deeper than 32 levels/,
    );
    await servesOn();
  });

  test('a_log_context_nested_5000_deep_gets_400_naming_its_path', async () => {
    const logs = `,"logs":{"columns":["ts","source","level","component","message","context","fingerprint"],"rows":[[${Date.now()},"app","info","x","m",{"a":${deep(5000)}},"0123456789abcdef"]]}`;
    refused(await push(batchText(++seq, logs)), 400, 'BATCH_INVALID', /^logs\.rows\[0\]\[5\]\.a\[0\]/);
    await servesOn();
  });

  test('family_names_of_Object_prototype_get_400_unknown_family', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const res = await push(batchText(++seq, '', `{"${name}":{"columns":["ts"],"rows":[[${Date.now()}]]}}`));
      refused(res, 400, 'BATCH_INVALID', new RegExp(`families\\.${name}: unknown family`));
    }
    await servesOn();
  });

  test('a_postmaster_start_time_of_1e300_gets_400', async () => {
    const fams = `{"pg_instance":{"columns":["ts","target","up","start_time"],"rows":[[${Date.now()},"main",true,1e300]]}}`;
    refused(
      await push(batchText(++seq, '', fams)),
      400,
      'BATCH_INVALID',
      /pg_instance\.rows\[0\]\[3\]: expected a timestamp/,
    );
    await servesOn();
  });

  test('timestamps_in_local_time_or_RFC_1123_get_400', async () => {
    for (const t of ['12/02/2026 10:00', 'Wed, 02 Dec 2026 10:00:00 GMT']) {
      const fams = `{"host_load":{"columns":["ts","load1"],"rows":[["${t}",0.5]]}}`;
      refused(
        await push(batchText(++seq, '', fams)),
        400,
        'BATCH_INVALID',
        /host_load\.rows\[0\]\[0\]: expected a timestamp/,
      );
    }
    await servesOn();
  });

  test('a_NUL_or_a_lone_surrogate_in_a_status_gets_400', async () => {
    refused(
      await push(batchText(++seq, ',"status":{"e":"a\\u0000b"}')),
      400,
      'BATCH_INVALID',
      /^status\.e: .*NUL/,
    );
    refused(
      await push(batchText(++seq, ',"status":{"e":"\\ud800"}')),
      400,
      'BATCH_INVALID',
      /^status\.e: .*surrogate/,
    );
    await servesOn();
  });

  test('the_agent_status_is_stored_with_its_presence_in_the_batch_transaction', async () => {
    const fresh = await enroll('status-host');
    const now = Date.now();
    const text = `{"v":1,"agentId":"${fresh.agentId}","seq":1,"sealedAt":${now},"families":{},"status":{"collectors":{"cpu":{"ok":false,"error":"no /proc"}}}}`;
    assert.equal((await push(text, { authorization: `Bearer ${fresh.credential}` })).status, 200);
    const { rows } = await ts.store.pool.query(
      'SELECT status, last_seen_at FROM pgvigil.agents WHERE agent_id = $1',
      [fresh.agentId],
    );
    assert.ok(rows[0].last_seen_at, 'seen');
    // The server adds its reading of the agent's clock (sealedAt minus receive time: ≤ 0 here).
    const { serverClockSkewMs, ...reported } = rows[0].status;
    assert.deepEqual(reported, { collectors: { cpu: { ok: false, error: 'no /proc' } } });
    assert.ok(serverClockSkewMs <= 0 && serverClockSkewMs > -5000, `skew ${serverClockSkewMs}`);
  });
});

describe(`sequences (${testPgLabel})`, () => {
  test('the_same_batch_again_is_a_duplicate_and_a_different_one_under_its_seq_is_a_409_conflict', async () => {
    const n = 10_000;
    const text = batchText(n);
    assert.equal((await push(text)).body.status, 'accepted');
    assert.equal((await push(text)).body.status, 'duplicate');
    refused(
      await push(text.replace('0.5,', '0.75,')),
      409,
      'BATCH_CONFLICT',
      new RegExp(`seq ${n} before with other content`),
    );
    // Conflicting copies in one group: the first writes, the other is refused.
    const m = n + 1;
    const [a, b] = await Promise.all([push(batchText(m)), push(batchText(m).replace('0.5,', '0.625,'))]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    const { rows } = await ts.store.pool.query(
      'SELECT count(*)::int AS n FROM pgvigil.ingest_ledger WHERE agent_id = $1 AND seq = ANY($2::bigint[]) AND digest IS NOT NULL',
      [agent.agentId, [n, m]],
    );
    assert.equal(rows[0].n, 2);
  });

  test('a_sequence_going_backwards_is_written_logged_and_counted', async () => {
    assert.equal((await push(batchText(20_000))).status, 200);
    const lower = 19_000;
    const res = await push(batchText(lower));
    assert.equal(res.body.status, 'accepted');
    const warned = logLines.find(
      (l) => l.msg?.toString().includes('sequence went backwards') && l.seq === lower,
    );
    assert.ok(warned, 'a warning names the seq');
    assert.equal(warned.highestSeq, 20_000);
    const metrics = await (
      await fetch(`${base}/metrics`, { headers: await roleHeaders(ts.store.pool, 'viewer') })
    ).text();
    assert.match(metrics, /pgvigil_ingest_seq_regressions_total [1-9]/);
  });
});

describe(`hostile parameters and bodies on other routes (${testPgLabel})`, () => {
  test('a_NUL_in_a_query_or_path_parameter_gets_400_naming_the_parameter', async () => {
    const s = agent.serverId;
    for (const [path, name] of [
      ['/api/v1/logs?q=a%00b', 'q'],
      ['/api/v1/logs?source=app%00', 'source'],
      ['/api/v1/logs?event=%00', 'event'],
      ['/api/v1/logs/counts?q=%00', 'q'],
      [`/api/v1/servers/${s}/targets/main/tables?datname=x%00`, 'datname'],
      [`/api/v1/servers/${s}/targets/ma%00in/activity`, 'target'],
      [`/api/v1/servers/${s}/containers/web%00`, 'name'],
      ['/api/v1/series?family=host_cpu%00&server=1', 'family'],
    ]) {
      const res = await get(path!);
      refused(res, 400, 'BAD_ARGUMENT', new RegExp(`parameter ${name}: contains a NUL`));
    }
    await servesOn();
  });

  test('a_series_of_family_constructor_gets_400_unknown_family', async () => {
    for (const f of ['constructor', '__proto__', 'toString']) {
      refused(await get(`/api/v1/series?family=${f}&server=1`), 400, 'BAD_ARGUMENT', /unknown family/);
    }
  });

  test('times_not_in_ISO_8601_with_a_zone_or_ms_get_400_in_the_read_API', async () => {
    for (const from of [
      '-1',
      '12%2F02%2F2026%2010%3A00',
      'Wed%2C%2002%20Dec%202026%2010%3A00%3A00%20GMT',
      '2026-12-02T10%3A00%3A00',
    ]) {
      refused(
        await get(`/api/v1/logs?from=${from}`),
        400,
        'BAD_ARGUMENT',
        /^from: expected an ISO 8601 time/,
      );
      refused(
        await get(`/api/v1/series?family=host_cpu&server=1&from=${from}`),
        400,
        'BAD_ARGUMENT',
        /from: expected/,
      );
    }
    assert.equal(
      (await get(`/api/v1/logs?from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`))
        .status,
      200,
    );
  });

  test('a_missing_or_wrong_content_type_gets_415_UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded']) {
      const res = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: type ? { 'content-type': type } : {},
        body: Buffer.from('{"name":"a","password":"b"}'),
      });
      refused(
        { status: res.status, body: (await res.json()) as never },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        /Content-Type: application\/json/,
      );
    }
  });

  test('fastify_errors_reach_clients_only_as_documented_codes', async () => {
    const post = async (body: string) => {
      const res = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
    };
    const cases: Array<[string, number, string]> = [
      ['{"name":', 400, 'BODY_INVALID'],
      ['', 400, 'BODY_INVALID'],
      ['{}', 400, 'BAD_ARGUMENT'],
      [`{"name":${deep(1000)}}`, 400, 'BODY_INVALID'],
      ['{"__proto__":{"x":1},"name":"a","password":"b"}', 400, 'BODY_INVALID'],
      ['{"name":"a\\u0000","password":"b"}', 400, 'BODY_INVALID'],
      [JSON.stringify({ name: 'a', password: 'x'.repeat(2 * 1024 * 1024) }), 413, 'BODY_TOO_LARGE'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      assert.equal(res.status, status, `${body.slice(0, 40)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, body.slice(0, 40));
      assert.ok(Object.hasOwn(errorCodes, res.body.error.code));
    }
    for (const [path, status, code] of [
      ['/api/v1/servers/not-a-number', 400, 'BAD_ARGUMENT'],
      ['/api/v1/servers/%zz', 400, 'BAD_ARGUMENT'],
      [`/api/v1/servers/${'9'.repeat(1000)}`, 400, 'BAD_ARGUMENT'],
      ['/api/v1/no-such-route', 404, 'NOT_FOUND'],
    ] as const) {
      const res = await get(path);
      assert.equal(res.status, status, path);
      assert.equal(res.body.error?.code, code, path);
    }
  });
});

describe(`sign-ins (${testPgLabel})`, () => {
  test('failed_and_rate_limited_sign_ins_are_logged_with_address_and_name_never_the_password', async () => {
    const user = await createTestUser(ts.store.pool, 'viewer');
    const password = 'not-the-password-42';
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: user.name, password }),
      });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const lines = logLines.filter((l) => l.user === user.name);
    assert.equal(lines.filter((l) => l.msg === 'sign-in failed').length, 3);
    assert.equal(lines.filter((l) => l.msg === 'sign-in refused: too many attempts').length, 1);
    for (const l of lines) assert.equal(l.address, '127.0.0.1');
    assert.ok(!JSON.stringify(logLines).includes(password), 'the password is in no log line');
  });
});

test('an_unhandled_rejection_or_uncaught_exception_is_logged_and_the_process_serves_on', () => {
  const script = `
    import { installProcessSafetyNet } from ${JSON.stringify(new URL('../src/server/safety-net.js', import.meta.url).href)};
    import pino from 'pino';
    installProcessSafetyNet(pino());
    Promise.reject(new Error('nobody awaited me'));
    setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
    setTimeout(() => console.log(JSON.stringify({ msg: 'still serving' })), 100);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: new URL('..', import.meta.url).pathname,
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; err?: { message: string; stack: string } });
  const rejection = lines.find((l) => l.msg.startsWith('unhandled promise rejection'));
  const exception = lines.find((l) => l.msg.startsWith('uncaught exception'));
  assert.equal(rejection?.err?.message, 'nobody awaited me');
  assert.match(rejection?.err?.stack ?? '', /Error: nobody awaited me/);
  assert.equal(exception?.err?.message, 'thrown from a timer');
  assert.equal(lines.at(-1)?.msg, 'still serving');
});
