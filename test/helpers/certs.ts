/**
 * Test certificates made with the real openssl: certificate authorities, and certificates they sign for
 * 127.0.0.1 and localhost. Tests that need them skip with a visible message without openssl, and fail
 * under CI, where `.ci/run` installs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

/** The skip reason for `describe`/`test` when openssl is missing (printed), or false. */
export function opensslSkip(): string | false {
  if (haveOpenssl) return false;
  if (process.env.CI === 'true') throw new Error('openssl is required under CI (apt-get install openssl)');
  const msg = 'SKIPPED: openssl is not installed (apt-get install openssl)';
  process.stdout.write(`# ${msg}\n`);
  return msg;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A self-signed CA in `dir`: `<name>.pem` and `<name>.key`. */
export function makeCa(dir: string, name: string, subject = `/CN=pgvigil test ${name}`): void {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    subject,
  );
}

/**
 * A certificate `<name>.pem` / `<name>.key` in `dir`, signed by the CA `<ca>.pem` there, valid two days for
 * IP 127.0.0.1 and DNS localhost.
 */
export function makeSigned(dir: string, ca: string, name: string): void {
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
}
