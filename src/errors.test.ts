import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCodes, PgvigilError } from './errors.js';
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
