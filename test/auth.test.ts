/**
 * Users, sessions and API tokens over real HTTP on a real store: first admin, login, refresh rotation
 * and reuse detection, logout, API tokens with roles and expiry, disabled users, the login rate limit,
 * cookie sessions and their CSRF check, and no secret in the store or the log.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { type App, buildServerApp } from '../src/server/app.js';
import { createApiToken } from '../src/server/auth/api-tokens.js';
import { needsRehash, verifyPassword } from '../src/server/auth/passwords.js';
import { addUser, ensureFirstAdmin } from '../src/server/auth/users.js';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';

let ts: TestStore;
let server: App;
let base: string;
const logged: string[] = [];

before(async () => {
  ts = await createTestStore('auth');
  const sink = new Writable({
    write(chunk, _enc, done) {
      logged.push(String(chunk));
      done();
    },
  });
  server = await buildServerApp({
    store: ts.store,
    log: pino({ level: 'debug' }, sink),
    latestMigration: ts.latest,
    credentialCacheMs: 0,
    loginLimit: { perSecond: 0.01, burst: 40 },
  });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await server.app.close();
  await ts.close();
});

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; cookie?: string; origin?: string } = {},
) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin) headers.origin = opts.origin;
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const login = (name: string, password: string) => call('POST', '/auth/login', { body: { name, password } });

describe(`users and sessions (${testPgLabel})`, () => {
  let adminPassword: string;

  test('the_first_start_creates_one_admin_with_a_generated_password_and_later_starts_none', async () => {
    const [a, b] = await Promise.all([ensureFirstAdmin(ts.store.pool), ensureFirstAdmin(ts.store.pool)]);
    const made = a ?? b;
    assert.ok(made && !(a && b), 'exactly one of two concurrent starts creates the admin');
    assert.equal(made.name, 'admin');
    assert.ok(made.password.length >= 20);
    adminPassword = made.password;
    assert.equal(await ensureFirstAdmin(ts.store.pool), undefined);
  });

  test('passwords_are_stored_as_scrypt_with_their_parameters', async () => {
    const { rows } = await ts.store.pool.query(
      `SELECT password_hash FROM pgvigil.users WHERE name = 'admin'`,
    );
    const stored: string = rows[0].password_hash;
    assert.match(stored, /^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    assert.ok(!stored.includes(adminPassword));
    assert.equal(await verifyPassword(adminPassword, stored), true);
    assert.equal(await verifyPassword(`${adminPassword}x`, stored), false);
    assert.equal(needsRehash(stored), false);
  });

  test('login_gives_an_access_token_and_httponly_cookies_and_me_says_who', async () => {
    const res = await login('admin', adminPassword);
    assert.equal(res.status, 200);
    assert.match(res.body.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(res.body.refreshToken, /^pgv_refresh_/);
    assert.ok(res.body.accessExpiresAt - Date.now() <= 15 * 60_000 + 1000);
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.some((c) => /^pgvigil_access=.*HttpOnly; SameSite=Strict/.test(c)));
    assert.ok(cookies.some((c) => /^pgvigil_refresh=.*Path=\/api\/v1\/auth; HttpOnly/.test(c)));
    const me = await call('GET', '/auth/me', { token: res.body.accessToken });
    assert.deepEqual(me.body, { userId: me.body.userId, name: 'admin', role: 'admin', via: 'session' });
  });

  test('a_wrong_password_and_an_unknown_user_get_the_same_answer', async () => {
    const a = await login('admin', 'not-the-password');
    const b = await login('nobody-here', 'not-the-password');
    assert.equal(a.status, 401);
    assert.deepEqual(a.body, b.body);
    assert.equal(a.body.error.code, 'LOGIN_FAILED');
  });

  test('refresh_rotates_the_token_and_a_reused_one_revokes_the_whole_session', async () => {
    const first = (await login('admin', adminPassword)).body;
    const second = await call('POST', '/auth/refresh', { body: { refreshToken: first.refreshToken } });
    assert.equal(second.status, 200);
    assert.notEqual(second.body.refreshToken, first.refreshToken);
    // The old refresh token again: someone copied it. The session ends for both holders.
    const replay = await call('POST', '/auth/refresh', { body: { refreshToken: first.refreshToken } });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.code, 'REFRESH_INVALID');
    const next = await call('POST', '/auth/refresh', { body: { refreshToken: second.body.refreshToken } });
    assert.equal(next.status, 401, 'the rotated token died with its session');
    assert.equal((await call('GET', '/auth/me', { token: second.body.accessToken })).status, 401);
  });

  test('the_browser_refreshes_with_its_cookie', async () => {
    const first = await login('admin', adminPassword);
    const cookie = first.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const res = await call('POST', '/auth/refresh', { cookie });
    assert.equal(res.status, 200);
    assert.equal(res.body.user.name, 'admin');
  });

  test('logout_stops_the_access_token_at_once', async () => {
    const s = (await login('admin', adminPassword)).body;
    assert.equal((await call('GET', '/auth/me', { token: s.accessToken })).status, 200);
    assert.equal((await call('POST', '/auth/logout', { token: s.accessToken })).status, 204);
    assert.equal((await call('GET', '/auth/me', { token: s.accessToken })).status, 401);
    assert.equal(
      (await call('POST', '/auth/refresh', { body: { refreshToken: s.refreshToken } })).status,
      401,
    );
  });

  test('a_forged_or_tampered_access_token_is_refused', async () => {
    const s = (await login('admin', adminPassword)).body;
    const [h, b, sig] = s.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(b, 'base64url').toString());
    const raised = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400 })).toString('base64url');
    assert.equal((await call('GET', '/auth/me', { token: `${h}.${raised}.${sig}` })).status, 401);
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    assert.equal((await call('GET', '/auth/me', { token: `${none}.${b}.` })).status, 401);
  });

  test('cookie_sessions_may_change_things_only_from_our_own_origin', async () => {
    const s = await login('admin', adminPassword);
    const cookie = `pgvigil_access=${s.body.accessToken}`;
    const body = { name: `csrf-${Date.now()}`, role: 'viewer' };
    const foreign = await call('POST', '/users', { cookie, body, origin: 'https://evil.example' });
    assert.equal(foreign.status, 403);
    const missing = await call('POST', '/users', { cookie, body });
    assert.equal(missing.status, 403);
    const own = await call('POST', '/users', { cookie, body, origin: base });
    assert.equal(own.status, 201);
    assert.equal((await call('GET', '/auth/me', { cookie })).status, 200, 'reading needs no Origin');
  });

  test('api_tokens_carry_a_role_no_higher_than_their_owner_and_expire', async () => {
    const { userId } = await addUser(ts.store.pool, { name: 'scripter', role: 'user' });
    await assert.rejects(
      createApiToken(ts.store.pool, { userId, name: 'x', role: 'admin' }),
      /cannot create/,
    );
    const viewer = await createApiToken(ts.store.pool, { userId, name: 'ro', role: 'viewer' });
    assert.equal((await call('GET', '/auth/me', { token: viewer.token })).body.role, 'viewer');
    const gone = await createApiToken(ts.store.pool, {
      userId,
      name: 'old',
      role: 'user',
      expiresInMs: -1000,
    });
    assert.equal((await call('GET', '/auth/me', { token: gone.token })).status, 401);
    // Demoting the owner lowers the token's reach with it.
    await ts.store.pool.query(`UPDATE pgvigil.users SET role = 'viewer' WHERE user_id = $1`, [userId]);
    const strong = await createApiToken(ts.store.pool, { userId, name: 'rw', role: 'viewer' });
    assert.equal(
      (await call('PUT', '/me/settings', { token: strong.token, body: { theme: 'dark' } })).status,
      403,
    );
  });

  test('admins_manage_users_and_a_disabled_user_is_out_at_once', async () => {
    const admin = (await login('admin', adminPassword)).body.accessToken;
    const made = await call('POST', '/users', { token: admin, body: { name: 'temp-user', role: 'user' } });
    assert.equal(made.status, 201);
    assert.ok(made.body.password.length >= 20, 'a generated password is returned once');
    const s = (await login('temp-user', made.body.password)).body;
    assert.equal((await call('GET', '/auth/me', { token: s.accessToken })).status, 200);
    const off = await call('PATCH', `/users/${made.body.userId}`, { token: admin, body: { disabled: true } });
    assert.equal(off.status, 200);
    assert.equal(off.body.disabled, true);
    assert.equal((await call('GET', '/auth/me', { token: s.accessToken })).status, 401);
    assert.equal((await login('temp-user', made.body.password)).status, 401);
    const listed = await call('GET', '/users', { token: admin });
    assert.ok(listed.body.users.some((u: { name: string }) => u.name === 'temp-user'));
    assert.ok(!JSON.stringify(listed.body).includes('scrypt'));
  });

  test('the_last_admin_cannot_be_demoted_disabled_or_deleted', async () => {
    const admin = (await login('admin', adminPassword)).body.accessToken;
    const { rows } = await ts.store.pool.query(`SELECT user_id FROM pgvigil.users WHERE name = 'admin'`);
    const id = rows[0].user_id;
    for (const [method, body] of [
      ['PATCH', { role: 'viewer' }],
      ['PATCH', { disabled: true }],
      ['DELETE', undefined],
    ] as const) {
      const res = await call(method, `/users/${id}`, { token: admin, body });
      assert.equal(res.status, 409, `${method} ${JSON.stringify(body)}`);
      assert.equal(res.body.error.code, 'LAST_ADMIN');
    }
  });

  test('admins_list_enrollment_tokens_and_agents_and_read_the_config_pushed_to_one', async () => {
    const admin = (await login('admin', adminPassword)).body.accessToken;
    const made = await call('POST', '/enroll-tokens', { token: admin, body: { uses: 2, note: 'rack 4' } });
    assert.equal(made.status, 201);
    const enrolled = await call('POST', '/agents/enroll', {
      body: { token: made.body.token, hostname: 'db-rack-4', agentVersion: '9.9.9' },
    });
    assert.equal(enrolled.status, 201);
    const tokens = await call('GET', '/enroll-tokens', { token: admin });
    const row = tokens.body.tokens.find((t: { tokenId: number }) => t.tokenId === made.body.tokenId);
    assert.deepEqual([row.usesLeft, row.note, row.agents, row.revokedAt], [1, 'rack 4', 1, null]);
    assert.ok(made.body.token.startsWith(row.prefix));
    assert.ok(!JSON.stringify(tokens.body).includes(made.body.token), 'the token itself is never listed');

    const id = enrolled.body.agentId;
    const listed = await call('GET', '/agents', { token: admin });
    const agent = listed.body.agents.find((a: { agentId: string }) => a.agentId === id);
    assert.deepEqual(
      [agent.hostname, agent.serverName, agent.version, agent.configured],
      ['db-rack-4', 'db-rack-4', '9.9.9', false],
    );
    const pushed = {
      collectIntervalMs: 30_000,
      targets: [{ name: 'main', url: 'postgres://mon:s3cret@db:5432/postgres' }],
    };
    assert.equal((await call('PUT', `/agents/${id}/config`, { token: admin, body: pushed })).status, 204);
    const one = await call('GET', `/agents/${id}`, { token: admin });
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.config, {
      collectIntervalMs: 30_000,
      targets: [{ name: 'main', url: 'postgres://mon:***@db:5432/postgres' }],
    });
    assert.ok(!JSON.stringify(one.body).includes('s3cret'), 'a target password is never shown');
    assert.equal(one.body.configured, true);
    assert.equal((await call('GET', `/agents/${randomUUID()}`, { token: admin })).status, 404);

    await addUser(ts.store.pool, { name: 'looker', role: 'viewer', password: 'looker-password-1' });
    const viewer = (await login('looker', 'looker-password-1')).body.accessToken;
    for (const path of ['/agents', `/agents/${id}`, '/enroll-tokens'])
      assert.equal((await call('GET', path, { token: viewer })).status, 403, path);
  });

  test('hosts_with_the_same_name_get_server_entries_of_their_own_and_keep_them_when_they_enroll_again', async () => {
    const admin = (await login('admin', adminPassword)).body.accessToken;
    const token = (await call('POST', '/enroll-tokens', { token: admin, body: { uses: 10 } })).body.token;
    const enroll = async (machineId?: string) => {
      const res = await call('POST', '/agents/enroll', { body: { token, hostname: 'db-clone', machineId } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.serverId as number;
    };
    const names = async () => {
      const { rows } = await ts.store.pool.query<{ server_id: string; name: string }>(
        "SELECT server_id, name FROM pgvigil.servers WHERE name LIKE 'db-clone%' ORDER BY name",
      );
      return Object.fromEntries(rows.map((r) => [r.name, Number(r.server_id)]));
    };
    const a = 'a'.repeat(8) + '0'.repeat(24);
    const b = 'b'.repeat(8) + '0'.repeat(24);
    // An older agent (no machine id) made the entry; the first host that sends one claims it.
    const legacy = await enroll();
    assert.equal(await enroll(a), legacy);
    const other = await enroll(b);
    assert.notEqual(other, legacy, 'another machine with the same host name is another server');
    assert.deepEqual(await names(), { 'db-clone': legacy, 'db-clone~bbbbbbbb': other });
    assert.equal(await enroll(b), other, 'the same machine enrolling again finds its own entry');
    assert.equal(await enroll(a), legacy);
    assert.equal(await enroll(), legacy, 'without a machine id the name alone decides, as before');
    // Same host name and the same first 8 hex digits: the full id tells them apart.
    const c = 'b'.repeat(8) + '1'.repeat(24);
    const third = await enroll(c);
    assert.ok(![legacy, other].includes(third));
    assert.equal((await names())[`db-clone~${c}`], third);

    for (const machineId of ['A'.repeat(32), 'a'.repeat(31), 'a'.repeat(33), '../etc/machine-id']) {
      const res = await call('POST', '/agents/enroll', { body: { token, hostname: 'db-clone', machineId } });
      assert.equal(res.status, 400, machineId);
      assert.match(res.body.error.message, /machineId/);
    }
  });

  test('a_user_changes_their_own_password_and_their_other_sessions_end', async () => {
    await addUser(ts.store.pool, { name: 'changer', role: 'viewer', password: 'first-password-1' });
    const a = (await login('changer', 'first-password-1')).body;
    const b = (await login('changer', 'first-password-1')).body;
    const wrong = await call('PUT', '/me/password', {
      token: a.accessToken,
      body: { currentPassword: 'nope-nope-nope', newPassword: 'second-password-2' },
    });
    assert.equal(wrong.status, 401);
    const weak = await call('PUT', '/me/password', {
      token: a.accessToken,
      body: { currentPassword: 'first-password-1', newPassword: 'short' },
    });
    assert.equal(weak.status, 400);
    const ok = await call('PUT', '/me/password', {
      token: a.accessToken,
      body: { currentPassword: 'first-password-1', newPassword: 'second-password-2' },
    });
    assert.equal(ok.status, 204);
    assert.equal((await call('GET', '/auth/me', { token: a.accessToken })).status, 200, 'this session stays');
    assert.equal((await call('GET', '/auth/me', { token: b.accessToken })).status, 401, 'the other one ends');
    assert.equal((await login('changer', 'second-password-2')).status, 200);
  });

  test('logins_are_rate_limited_per_name', async () => {
    await addUser(ts.store.pool, { name: 'target', role: 'viewer', password: 'target-password-1' });
    const statuses: number[] = [];
    for (let i = 0; i < 60 && statuses.at(-1) !== 429; i++) {
      statuses.push((await login('target', `guess-${i}-xxxxx`)).status);
    }
    assert.equal(statuses.at(-1), 429, `statuses: ${statuses.join(',')}`);
    assert.ok(statuses.length <= 41, `${statuses.length} attempts before the limit`);
    const limited = await login('target', 'target-password-1');
    assert.equal(limited.status, 429, 'even the right password waits');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });

  test('no_password_or_token_reaches_the_log_or_the_store_in_clear', async () => {
    const text = logged.join('');
    assert.ok(!text.includes(adminPassword), 'admin password in the log');
    assert.ok(!/pgv_(api|refresh)_[\w-]{20}/.test(text), 'a token in the log');
    assert.ok(!/eyJ[\w-]{10,}\.[\w-]{10,}/.test(text), 'an access token in the log');
    const dump = await ts.store.pool.query(
      `SELECT (SELECT string_agg(t::text, '') FROM pgvigil.users t) || (SELECT string_agg(t::text, '') FROM pgvigil.sessions t) ||
              (SELECT string_agg(t::text, '') FROM pgvigil.api_tokens t) AS all`,
    );
    assert.ok(!dump.rows[0].all.includes(adminPassword));
    assert.ok(!dump.rows[0].all.includes('pgv_refresh_'));
  });
});
