/**
 * HTTPS between agent and server with a private CA, and mutual TLS: certificates made with openssl, a real
 * server on loopback, the real agent HTTP client.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { AgentHttp } from '../src/agent/http.js';
import { startShipping } from '../src/agent/shipping.js';
import { buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import type { Store } from '../src/storage/db.js';
import { haveOpenssl, makeCa, makeSigned, opensslSkip } from './helpers/certs.js';
import { startCli } from './helpers/cli.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { until } from './helpers/wait.js';

const skip = opensslSkip();

let dir: string;
let ts: TestStore;
let store: Store;
let latest: number;

/**
 * A CA, a server certificate for 127.0.0.1, a second one (a renewal) and a client certificate, all signed by
 * the CA.
 */
function makeCertificates(): void {
  makeCa(dir, 'ca');
  for (const name of ['server', 'client', 'renewed']) makeSigned(dir, 'ca', name);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgvigil-tls-'));
  if (haveOpenssl) makeCertificates();
  ts = await createTestStore('tls');
  ({ store, latest } = ts);
});

after(async () => {
  await ts.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(`TLS (${testPgLabel})`, { skip }, () => {
  test('an_agent_trusting_the_private_ca_ships_over_https_and_one_without_it_is_refused', async () => {
    const server = await buildServerApp({
      store,
      log: quietLog,
      latestMigration: latest,
      tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
    });
    const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    assert.match(url, /^https:/);
    try {
      const untrusting = new AgentHttp(url);
      await assert.rejects(
        untrusting.request('GET', '/api/v1/health', {}),
        /self[- ]signed|unable to (get|verify)/i,
      );
      untrusting.close();

      const stateDir = join(dir, 'agent-https');
      const { token } = await createEnrollToken(store.pool, {});
      const shipping = await startShipping({
        serverUrl: url,
        stateDir,
        enrollToken: token,
        tls: { ca: join(dir, 'ca.pem') },
        pushIntervalMs: 60_000,
        log: quietLog,
      });
      try {
        shipping.addRows([
          { family: 'host_load', ts: Date.now(), rows: [{ load1: 1, load5: 1, load15: 1 }] },
        ]);
        await shipping.flush();
        await until(async () => {
          const { rows } = await store.pool.query(
            'SELECT count(*)::int AS n FROM pgvigil.host_load WHERE server_id = $1',
            [shipping.identity.serverId],
          );
          return rows[0].n === 1;
        });
      } finally {
        await shipping.stop();
      }
    } finally {
      await server.app.close();
    }
  });

  test('with_mutual_tls_only_clients_with_a_certificate_from_the_ca_get_in', async () => {
    const server = await buildServerApp({
      store,
      log: quietLog,
      latestMigration: latest,
      tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), clientCa: join(dir, 'ca.pem') },
    });
    const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const anonymous = new AgentHttp(url, { ca: join(dir, 'ca.pem') });
      await assert.rejects(anonymous.request('GET', '/api/v1/health', {}));
      anonymous.close();
      const client = new AgentHttp(url, {
        ca: join(dir, 'ca.pem'),
        cert: join(dir, 'client.pem'),
        key: join(dir, 'client.key'),
      });
      const res = await client.request('GET', '/api/v1/health', {});
      assert.equal(res.status, 200);
      client.close();
    } finally {
      await server.app.close();
    }
  });

  test('a_running_server_serves_a_renewed_certificate_after_sighup_and_keeps_the_old_one_when_the_new_files_are_bad', async () => {
    const live = join(dir, 'live');
    mkdirSync(live, { recursive: true });
    const install = (name: string) => {
      copyFileSync(join(dir, `${name}.pem`), join(live, 'server.pem'));
      copyFileSync(join(dir, `${name}.key`), join(live, 'server.key'));
    };
    install('server');
    const server = startCli(
      [
        'server',
        '--port',
        '0',
        '--tls-cert',
        join(live, 'server.pem'),
        '--tls-key',
        join(live, 'server.key'),
      ],
      { DATABASE_URL: ts.db.url, PGVIGIL_LOG_LEVEL: 'info', PGVIGIL_LOG_FORMAT: 'json' },
    );
    /** The serial number of the certificate the server presents to a new connection. */
    const presented = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port, ca: readFileSync(join(dir, 'ca.pem')), servername: 'localhost' },
          () => {
            resolve(socket.getPeerCertificate().serialNumber);
            socket.end();
          },
        );
        socket.on('error', reject);
      });
    try {
      const port = Number((await server.waitFor(/server listening: https:\/\/[^:]+:(\d+)/))[1]);
      const first = await presented(port);
      install('renewed');
      server.child.kill('SIGHUP');
      let now = first;
      await until(async () => {
        now = await presented(port);
        return now !== first;
      });
      assert.notEqual(now, first, 'the renewed certificate is served');

      writeFileSync(join(live, 'server.key'), 'not a key');
      server.child.kill('SIGHUP');
      await until(async () => server.output().stderr.includes('TLS files not reloaded'));
      assert.equal(server.child.exitCode, null, 'SIGHUP never stops the server');
      assert.equal(await presented(port), now, 'a bad file leaves the running certificate');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
