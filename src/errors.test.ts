import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCodes, listenError, PgvigilError } from './errors.js';
import { packageRoot } from './version.js';

test('every_error_code_is_documented_with_its_status_and_exit_code', () => {
  const doc = readFileSync(`${packageRoot}/docs/errors.md`, 'utf8');
  for (const [code, spec] of Object.entries(errorCodes)) {
    const row = new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${spec.status}\\s*\\|\\s*${spec.exit}\\s*\\|`);
    assert.match(doc, row, `docs/errors.md lacks a row for ${code} (${spec.status}, exit ${spec.exit})`);
  }
});

test('a_coded_error_carries_its_status_and_exit_code', () => {
  const e = new PgvigilError('PORT_IN_USE', 'port 1 is in use');
  assert.equal(e.status, 500);
  assert.equal(e.exitCode, 2);
  assert.equal(e.message, 'port 1 is in use');
  assert.equal(new PgvigilError('NOT_FOUND').message, errorCodes.NOT_FOUND.message);
});

test('a_failed_listen_names_the_address_the_reason_and_the_option', () => {
  const failure = (code: string) => Object.assign(new Error(`listen ${code}`), { code });
  const inUse = listenError(failure('EADDRINUSE'), '127.0.0.1', 8470, '--port');
  assert.ok(inUse instanceof PgvigilError);
  assert.equal(inUse.code, 'PORT_IN_USE');
  assert.equal(
    inUse.message,
    'cannot listen on 127.0.0.1:8470: the port is in use by another program; choose another with --port',
  );
  const notHere = listenError(failure('EADDRNOTAVAIL'), '::1', 9100, '--listen');
  assert.ok(notHere instanceof PgvigilError);
  assert.equal(notHere.code, 'BAD_ARGUMENT');
  assert.match(
    notHere.message,
    /^cannot listen on \[::1\]:9100: no such address on this machine; choose another with --listen$/,
  );
  const privileged = listenError(failure('EACCES'), '0.0.0.0', 80, '--agent-port');
  assert.match((privileged as Error).message, /permission denied \(ports below 1024 need privileges\)/);
  // Anything else is not guessed at: returned as it came.
  const other = failure('EMFILE');
  assert.equal(listenError(other, '127.0.0.1', 1, '--port'), other);
});
