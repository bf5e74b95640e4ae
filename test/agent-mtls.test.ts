/**
 * Agent identity by client certificate: a real server with its mutual-TLS agent port on loopback, the real
 * agent (enrollment, shipping, renewal) and raw TLS clients. The server's own certificate is made with
 * openssl (as test/tls.test.ts does); the agent certificates come from the server's agent CA.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import {
  certificateRequest,
  clientCertificateFile,
  loadClientCertificate,
  renewalDue,
  saveClientCertificate,
} from '../src/agent/certificate.js';
import { startShipping } from '../src/agent/shipping.js';
import { batchMediaType } from '../src/protocol/batch.js';
import { SecretBox } from '../src/secrets.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { AgentCa, loadOrCreateAgentCa } from '../src/server/auth/ca.js';
import type { Store } from '../src/storage/db.js';
import { haveOpenssl, makeCa, makeSigned, opensslSkip } from './helpers/certs.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

const skip = opensslSkip();

let dir: string;
let ts: TestStore;
let store: Store;
let latest: number;
let server: App;
let mainUrl: string;
let agentUrl: string;
let serverCa: Buffer;
let box: SecretBox;
let agentCa: AgentCa;

/** A CA and a server certificate for 127.0.0.1 signed by it (the server's own TLS, not the agent CA). */
function makeServerCertificate(): void {
  makeCa(dir, 'ca', '/CN=test server CA');
  makeSigned(dir, 'ca', 'server');
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One HTTPS request on a fresh connection, with an optional client certificate and bearer credential. */
function request(
  url: string,
  method: string,
  path: string,
  opts: { cert?: string; key?: string; bearer?: string; json?: unknown; batch?: unknown } = {},
): Promise<Answer> {
  const body =
    opts.batch !== undefined
      ? gzipSync(Buffer.from(JSON.stringify(opts.batch)))
      : opts.json !== undefined
        ? Buffer.from(JSON.stringify(opts.json))
        : undefined;
  const headers: Record<string, string> = {
    ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
    ...(opts.batch !== undefined ? { 'content-type': batchMediaType, 'content-encoding': 'gzip' } : {}),
    ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(body ? { 'content-length': String(body.length) } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, url),
      { method, headers, agent: false, ca: serverCa, cert: opts.cert, key: opts.key },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = { text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function loadBatch(agentId: string, seq: number, load1 = 0.5): Record<string, unknown> {
  const ts = Date.now();
  return {
    v: 1,
    agentId,
    seq,
    sealedAt: ts,
    families: {
      host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows: [[ts, load1, 0.25, 0.125]] },
    },
  };
}

async function loadRows(serverId: number): Promise<number> {
  const { rows } = await store.pool.query(
    'SELECT count(*)::int AS n FROM pgvigil.host_load WHERE server_id = $1',
    [serverId],
  );
  return rows[0].n as number;
}

interface Enrolled {
  agentId: string;
  serverId: number;
  credential: string;
  certificate?: string;
  certificateNotAfter?: string;
  key: string;
}

/** Enrolls over raw HTTPS with a certificate request, as the agent does. */
async function enroll(url: string, hostname: string): Promise<Enrolled> {
  const { token } = await createEnrollToken(store.pool, {});
  const req = certificateRequest();
  const res = await request(url, 'POST', '/api/v1/agents/enroll', {
    json: { token, hostname, csr: req.csr },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { ...(res.body as unknown as Enrolled), key: req.keyPem };
}

/** What a TLS client sees of the handshake: whether the server sent a CertificateRequest (OpenSSL trace). */
function handshakeTrace(port: number): Promise<{ certificateRequested: boolean; connected: boolean }> {
  const script = `
    const t = require('node:tls').connect({ host: '127.0.0.1', port: ${port}, ca: ${JSON.stringify(serverCa.toString())} });
    t.enableTrace();
    t.on('secureConnect', () => { console.log('CONNECTED ' + t.getProtocol()); t.end('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'); });
    t.on('data', () => {});
    t.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(0); });
    t.on('close', () => process.exit(0));`;
  return new Promise((resolve, reject) => {
    // Asynchronous: the server runs in this process and must keep answering.
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill(), 10_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({
        certificateRequested: /CertificateRequest/.test(out),
        connected: /CONNECTED TLSv1\.3/.test(out),
      });
    });
  });
}

/** Whether a TLS 1.2-only client completes a handshake with the server at `port`. */
function tls12Handshake(port: number): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: serverCa, maxVersion: 'TLSv1.2' });
    socket.on('secureConnect', () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: err.code ?? err.message }),
    );
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgvigil-mtls-'));
  ts = await createTestStore('mtls');
  ({ store, latest } = ts);
  if (!haveOpenssl) return;
  makeServerCertificate();
  serverCa = readFileSync(join(dir, 'ca.pem'));
  box = SecretBox.random();
  agentCa = await loadOrCreateAgentCa(store.pool, box);
  server = await buildServerApp({
    store,
    log: quietLog,
    latestMigration: latest,
    credentialCacheMs: 0,
    tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
    agentCa,
  });
  mainUrl = await server.app.listen({ host: '127.0.0.1', port: 0 });
  agentUrl = await server.listenAgents('127.0.0.1', 0);
});

after(async () => {
  await server?.app.close();
  await ts.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(`agent identity by client certificate (${testPgLabel})`, { skip }, () => {
  test('an_agent_enrolling_on_the_agent_port_gets_a_certificate_for_its_own_key_and_ships_with_it', async () => {
    const stateDir = join(dir, 'agent-a');
    const { token } = await createEnrollToken(store.pool, {});
    const shipping = await startShipping({
      serverUrl: agentUrl,
      stateDir,
      enrollToken: token,
      tls: { ca: join(dir, 'ca.pem') },
      pushIntervalMs: 60_000,
      log: quietLog,
    });
    const { agentId, serverId } = shipping.identity;
    let saved: Awaited<ReturnType<typeof loadClientCertificate>>;
    try {
      saved = await loadClientCertificate(stateDir);
      assert.ok(saved, 'the certificate is kept in the state directory');
      assert.equal(statSync(clientCertificateFile(stateDir)).mode & 0o777, 0o600);
      const cert = new X509Certificate(saved.certificate);
      assert.equal(cert.subjectAltName, `URI:pgvigil:agent:${agentId}`);
      assert.ok(
        cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(saved!.key))),
      );
      const lifeDays = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
      assert.ok(lifeDays > 29.9 && lifeDays <= 30, `valid ${lifeDays} days`);
      assert.equal(shipping.certificate()?.certificate, saved.certificate);

      shipping.addRows([{ family: 'host_load', ts: Date.now(), rows: [{ load1: 1, load5: 1, load15: 1 }] }]);
      await shipping.flush();
      await until(async () => (await loadRows(serverId)) === 1, 15_000, 'the agent’s batch stored');
    } finally {
      await shipping.stop();
    }

    // The certificate alone is the credential: no bearer on this request.
    const res = await request(agentUrl, 'POST', '/api/v1/ingest', {
      cert: saved.certificate,
      key: saved.key,
      batch: loadBatch(agentId, 1000),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'accepted');
    assert.equal(await loadRows(serverId), 2);
    const config = await request(agentUrl, 'GET', `/api/v1/agents/${agentId}/config`, {
      cert: saved.certificate,
      key: saved.key,
    });
    assert.equal(config.status, 200);
    // Without any credential the agent port refuses like the main port.
    const anonymous = await request(agentUrl, 'POST', '/api/v1/ingest', { batch: loadBatch(agentId, 1001) });
    assert.equal(anonymous.status, 401);
  });

  test('the_ca_is_kept_in_the_store_and_opens_only_with_the_secret_key_that_sealed_it', async () => {
    // What a second server (or this one restarted) on the same store and secret key gets: the same CA.
    const again = await loadOrCreateAgentCa(store.pool, box);
    assert.equal(again.certificatePem, agentCa.certificatePem);
    const { rows } = await store.pool.query('SELECT key_sealed FROM pgvigil.agent_ca');
    assert.equal(rows.length, 1);
    assert.ok(!(rows[0].key_sealed as Buffer).includes('PRIVATE KEY'), 'the key is sealed in the store');
    await assert.rejects(
      loadOrCreateAgentCa(store.pool, SecretBox.random()),
      /SECRET_UNREADABLE|does not open/,
    );
  });

  test('another_agents_certificate_cannot_write_or_read_as_this_agent', async () => {
    const a = await enroll(agentUrl, 'mtls-host-a');
    const b = await enroll(agentUrl, 'mtls-host-b');
    assert.ok(a.certificate && b.certificate);
    const asB = { cert: b.certificate, key: b.key };

    const foreign = await request(agentUrl, 'POST', '/api/v1/ingest', {
      ...asB,
      batch: loadBatch(a.agentId, 1),
    });
    assert.equal(foreign.status, 403);
    assert.equal((foreign.body.error as { code: string }).code, 'AGENT_MISMATCH');
    // B's certificate with A's bearer credential: the two must name the same agent.
    const mixed = await request(agentUrl, 'POST', '/api/v1/ingest', {
      ...asB,
      bearer: a.credential,
      batch: loadBatch(a.agentId, 1),
    });
    assert.equal(mixed.status, 403);
    assert.equal((mixed.body.error as { code: string }).code, 'AGENT_MISMATCH');
    const config = await request(agentUrl, 'GET', `/api/v1/agents/${a.agentId}/config`, asB);
    assert.equal(config.status, 403);
    const renew = await request(agentUrl, 'POST', `/api/v1/agents/${a.agentId}/certificate`, {
      ...asB,
      json: { csr: certificateRequest().csr },
    });
    assert.equal(renew.status, 403);
    assert.equal(await loadRows(a.serverId), 0);

    // A certificate from another CA, even naming A, is no credential.
    const stranger = AgentCa.create();
    const req = certificateRequest();
    const forged = stranger.ca.issue(a.agentId, req.csr).certificate;
    const res = await request(agentUrl, 'POST', '/api/v1/ingest', {
      cert: forged,
      key: req.keyPem,
      batch: loadBatch(a.agentId, 1),
    });
    assert.equal(res.status, 401);
    assert.equal((res.body.error as { code: string }).code, 'CERTIFICATE_INVALID');
    assert.equal(await loadRows(a.serverId), 0);
  });

  test('a_revoked_agents_certificate_is_refused', async () => {
    const a = await enroll(agentUrl, 'mtls-host-revoked');
    const asA = { cert: a.certificate, key: a.key };
    const first = await request(agentUrl, 'POST', '/api/v1/ingest', {
      ...asA,
      batch: loadBatch(a.agentId, 1),
    });
    assert.equal(first.status, 200);

    const revoke = await request(mainUrl, 'POST', `/api/v1/agents/${a.agentId}/revoke`, {
      bearer: (await roleHeaders(store.pool, 'admin')).authorization.replace(/^Bearer /, ''),
    });
    assert.equal(revoke.status, 204, JSON.stringify(revoke.body));

    const after = await request(agentUrl, 'POST', '/api/v1/ingest', {
      ...asA,
      batch: loadBatch(a.agentId, 2),
    });
    assert.equal(after.status, 401);
    assert.equal((after.body.error as { code: string }).code, 'CREDENTIAL_REVOKED');
    const renew = await request(agentUrl, 'POST', `/api/v1/agents/${a.agentId}/certificate`, {
      ...asA,
      json: { csr: certificateRequest().csr },
    });
    assert.equal(renew.status, 401, 'a revoked agent gets no new certificate either');
    assert.equal(await loadRows(a.serverId), 1);
  });

  test('the_main_port_never_asks_for_a_client_certificate_and_the_agent_port_does', async () => {
    const main = await handshakeTrace(Number(new URL(mainUrl).port));
    assert.equal(
      main.connected,
      true,
      'a browser-like client connects to the main port without a certificate',
    );
    assert.equal(main.certificateRequested, false, 'no CertificateRequest on the main port');
    const page = await request(mainUrl, 'GET', '/');
    assert.notEqual(page.status, 0);
    assert.notEqual(page.status, 404, 'the main port serves the dashboard');

    const agents = await handshakeTrace(Number(new URL(agentUrl).port));
    assert.equal(agents.certificateRequested, true, 'the agent port asks for a client certificate');
    // The agent port is no second way into the API or the dashboard.
    const a = await enroll(agentUrl, 'mtls-host-ports');
    for (const path of ['/', '/api/v1/servers', '/api/v1/openapi.json']) {
      const res = await request(agentUrl, 'GET', path, {
        cert: a.certificate,
        key: a.key,
        bearer: (await roleHeaders(store.pool, 'admin')).authorization.replace(/^Bearer /, ''),
      });
      assert.equal(res.status, 404, path);
    }
    assert.equal((await request(agentUrl, 'GET', '/api/v1/health')).status, 200, 'health answers there');
    // Certificates are issued on the agent port only; on the main port the agent keeps its bearer credential.
    const renew = await request(mainUrl, 'POST', `/api/v1/agents/${a.agentId}/certificate`, {
      bearer: a.credential,
      json: { csr: certificateRequest().csr },
    });
    assert.equal(renew.status, 409);
    assert.equal((renew.body.error as { code: string }).code, 'CERTIFICATE_UNAVAILABLE');
    // A malformed request is refused before the token's one use is spent.
    const once = await createEnrollToken(store.pool, { uses: 1 });
    const bad = await request(agentUrl, 'POST', '/api/v1/agents/enroll', {
      json: {
        token: once.token,
        hostname: 'mtls-host-bad-csr',
        csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(200)}\n-----END CERTIFICATE REQUEST-----\n`,
      },
    });
    assert.equal(bad.status, 400);
    assert.equal((bad.body.error as { code: string }).code, 'CSR_INVALID');
    const good = await request(agentUrl, 'POST', '/api/v1/agents/enroll', {
      json: { token: once.token, hostname: 'mtls-host-bad-csr', csr: certificateRequest().csr },
    });
    assert.equal(good.status, 201, JSON.stringify(good.body));
    const onMain = await enroll(mainUrl, 'mtls-host-main');
    assert.equal(onMain.certificate, undefined, 'no certificate from an enrollment on the main port');
  });

  test('tls_1_2_is_refused_by_default_and_allowed_with_the_flag', async () => {
    for (const url of [agentUrl, mainUrl]) {
      const r = await tls12Handshake(Number(new URL(url).port));
      assert.equal(r.ok, false, `${url} accepted TLS 1.2`);
      assert.match(r.error ?? '', /PROTOCOL_VERSION|VERSION|ALERT/i);
    }
    const relaxed = await buildServerApp({
      store,
      log: quietLog,
      latestMigration: latest,
      tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), minVersion: 'TLSv1.2' },
      agentCa: AgentCa.create().ca,
    });
    try {
      await relaxed.app.listen({ host: '127.0.0.1', port: 0 });
      const url = await relaxed.listenAgents('127.0.0.1', 0);
      assert.deepEqual(await tls12Handshake(Number(new URL(url).port)), { ok: true });
    } finally {
      await relaxed.app.close();
    }
  });

  test('the_agent_renews_its_certificate_at_two_thirds_of_its_life_with_a_new_key', async () => {
    // The same store and CA, certificates of 3 s: renewal is due 2 s after receipt.
    const shortLived = await buildServerApp({
      store,
      log: quietLog,
      latestMigration: latest,
      credentialCacheMs: 0,
      tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
      agentCa: AgentCa.create().ca,
      agentCertificateLifetimeMs: 3000,
    });
    await shortLived.app.listen({ host: '127.0.0.1', port: 0 });
    const url = await shortLived.listenAgents('127.0.0.1', 0);
    const stateDir = join(dir, 'agent-renew');
    const { token } = await createEnrollToken(store.pool, {});
    const shipping = await startShipping({
      serverUrl: url,
      stateDir,
      enrollToken: token,
      tls: { ca: join(dir, 'ca.pem') },
      pushIntervalMs: 60_000,
      certificateCheckMs: 200,
      log: quietLog,
    });
    try {
      const first = (await loadClientCertificate(stateDir))!;
      const firstSerial = new X509Certificate(first.certificate).serialNumber;
      await until(
        async () => {
          const now = await loadClientCertificate(stateDir);
          return now !== undefined && new X509Certificate(now.certificate).serialNumber !== firstSerial;
        },
        10_000,
        'a renewed certificate',
      );
      const renewed = (await loadClientCertificate(stateDir))!;
      assert.notEqual(renewed.key, first.key, 'each certificate has a fresh key');
      // Two thirds of the way from receipt to the end (which the certificate states to the second).
      const firstEnd = new Date(new X509Certificate(first.certificate).validTo).getTime();
      const due = Date.parse(first.receivedAt) + ((firstEnd - Date.parse(first.receivedAt)) * 2) / 3;
      assert.ok(due - Date.parse(first.receivedAt) > 1000, 'due well after receipt');
      assert.ok(
        Date.parse(renewed.receivedAt) >= due && Date.parse(renewed.receivedAt) < firstEnd,
        'renewed after two thirds of its life and before its end',
      );
      // and the renewed certificate is the one presented: a push with it alone is accepted
      const res = await request(url, 'POST', '/api/v1/ingest', {
        cert: renewed.certificate,
        key: renewed.key,
        batch: loadBatch(shipping.identity.agentId, 77),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    } finally {
      await shipping.stop();
      await shortLived.app.close();
    }
  });
});

test('the_certificate_is_kept_0600_and_a_damaged_file_counts_as_none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cert-'));
  try {
    const { ca } = AgentCa.create();
    const req = certificateRequest();
    const c = {
      key: req.keyPem,
      certificate: ca.issue('0b5c6c9e-3f0e-4a52-9f4e-2d7d3c1a9b10', req.csr).certificate,
      receivedAt: new Date().toISOString(),
    };
    await saveClientCertificate(dir, c);
    assert.equal(statSync(clientCertificateFile(dir)).mode & 0o777, 0o600);
    assert.deepEqual(await loadClientCertificate(dir), c);
    writeFileSync(clientCertificateFile(dir), '{"certificate":"garbage"');
    assert.equal(await loadClientCertificate(dir), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('renewal_is_due_two_thirds_of_the_way_from_receipt_to_the_end', () => {
  const now = new Date('2026-12-03T00:00:00Z');
  const { ca } = AgentCa.create(now);
  const req = certificateRequest();
  const certificate = ca.issue(
    '0b5c6c9e-3f0e-4a52-9f4e-2d7d3c1a9b10',
    req.csr,
    now,
    30 * 86_400_000,
  ).certificate;
  const due = renewalDue({ key: req.keyPem, certificate, receivedAt: now.toISOString() });
  assert.equal(new Date(due).toISOString(), '2026-12-23T00:00:00.000Z');
});
