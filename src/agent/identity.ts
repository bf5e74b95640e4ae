/**
 * The agent's identity on a server: enrolled once with an enrollment token, then the per-agent credential
 * is kept in `<stateDir>/credential.json` (mode 0600) and reused on every start. Enrollment also sends a
 * certificate request for a key made here: on the server's agent port the answer carries a client
 * certificate too, kept by ./certificate.ts (the key never leaves this host).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname, platform, release } from 'node:os';
import { join } from 'node:path';
import { PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { version } from '../version.js';
import { certificateRequest, clientCertificateFile, saveClientCertificate } from './certificate.js';
import { type AgentHttp, errorMessage, serverUrls } from './http.js';

export interface AgentIdentity {
  serverUrl: string;
  agentId: string;
  serverId: number;
  credential: string;
  enrolledAt: string;
}

export function credentialFile(stateDir: string): string {
  return join(stateDir, 'credential.json');
}

/**
 * The key that makes enrollment safe to retry: written (0600) before the first request and kept until the
 * credential is saved, so an agent that dies between the server's answer and saving it gets the same
 * agent back on its next start instead of spending another use of the token.
 */
async function enrollKey(stateDir: string): Promise<{ key: string; file: string }> {
  const file = join(stateDir, 'enroll-key');
  if (existsSync(file)) {
    const key = (await readFile(file, 'utf8')).trim();
    if (key.length >= 16) return { key, file };
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(24).toString('base64url');
  await writeFile(`${file}.tmp`, key, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return { key, file };
}

/** Where systemd (and before it D-Bus) keeps the host's machine id. */
export const machineIdFiles = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

/**
 * This host's identity for the server: a hash of its machine id (32 hex), so that two hosts with the same
 * host name get server entries of their own. Hashed, as systemd asks of ids shown off the host
 * (machine-id(5)); undefined when the host has none (an empty or missing file, as in many containers).
 */
export async function machineIdentity(
  files: readonly string[] = machineIdFiles,
): Promise<string | undefined> {
  for (const file of files) {
    const id = await readFile(file, 'utf8').then(
      (text) => text.slice(0, 64).trim(),
      () => '',
    );
    if (/^[0-9a-f]{32}$/.test(id)) {
      return createHash('sha256').update(`pgvigil machine ${id}`).digest('hex').slice(0, 32);
    }
  }
  return undefined;
}

export async function saveIdentity(stateDir: string, id: AgentIdentity): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = credentialFile(stateDir);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(id, null, 2), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export async function loadIdentity(stateDir: string): Promise<AgentIdentity | undefined> {
  const file = credentialFile(stateDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as AgentIdentity;
}

export interface EnrollOptions {
  stateDir: string;
  serverUrl: string;
  enrollToken?: string;
  http: AgentHttp;
  targets?: string[];
  log: Logger;
}

/**
 * Whether two `--server` values reach the same store: they share a server (instances on one store all
 * know the agent).
 */
function sameStore(a: string, b: string): boolean {
  const known = new Set(serverUrls(a));
  return serverUrls(b).some((u) => known.has(u));
}

/** The saved identity for this server, or a new one from enrollment; a clear error when neither is possible. */
export async function loadOrEnroll(opts: EnrollOptions): Promise<AgentIdentity> {
  const saved = await loadIdentity(opts.stateDir);
  if (saved && sameStore(saved.serverUrl, opts.serverUrl)) {
    // Servers added to or dropped from the list keep the identity; it is saved with the list as it is now.
    if (saved.serverUrl !== opts.serverUrl) {
      const moved = { ...saved, serverUrl: opts.serverUrl };
      await saveIdentity(opts.stateDir, moved);
      return moved;
    }
    return saved;
  }
  if (!opts.enrollToken) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      saved
        ? `this agent is enrolled with ${saved.serverUrl}, not ${opts.serverUrl}; pass --enroll-token to enroll with the new server`
        : `this agent is not enrolled with ${opts.serverUrl} yet: pass --enroll-token (create one with \`pgvigil token create --enroll\`)`,
    );
  }
  const key = await enrollKey(opts.stateDir);
  const certRequest = certificateRequest();
  const body = Buffer.from(
    JSON.stringify({
      token: opts.enrollToken,
      enrollKey: key.key,
      hostname: hostname(),
      machineId: await machineIdentity(),
      os: `${platform()} ${release()}`,
      agentVersion: version,
      targets: (opts.targets ?? []).map((name) => ({ kind: 'postgres', name })),
      csr: certRequest.csr,
    }),
  );
  const res = await opts.http.request(
    'POST',
    '/api/v1/agents/enroll',
    { 'content-type': 'application/json' },
    body,
  );
  if (res.status !== 201) {
    throw new PgvigilError(
      'ENROLL_TOKEN_INVALID',
      `enrollment with ${opts.serverUrl} failed: ${errorMessage(res)}`,
    );
  }
  const got = JSON.parse(res.body.toString('utf8')) as {
    agentId: string;
    serverId: number;
    credential: string;
    certificate?: string;
  };
  const identity: AgentIdentity = {
    serverUrl: opts.serverUrl,
    agentId: got.agentId,
    serverId: got.serverId,
    credential: got.credential,
    enrolledAt: new Date().toISOString(),
  };
  // The certificate first: an agent that dies in between re-enrolls with its key and gets both again.
  if (got.certificate) {
    await saveClientCertificate(opts.stateDir, {
      key: certRequest.keyPem,
      certificate: got.certificate,
      receivedAt: new Date().toISOString(),
    });
  } else {
    // A certificate from an earlier enrollment (another server) names another agent: never present it.
    await rm(clientCertificateFile(opts.stateDir), { force: true });
  }
  await saveIdentity(opts.stateDir, identity);
  await rm(key.file, { force: true });
  opts.log.info(
    { agentId: identity.agentId, certificate: Boolean(got.certificate) },
    got.certificate
      ? 'enrolled with the server; credential and client certificate saved'
      : 'enrolled with the server; credential saved',
  );
  return identity;
}
