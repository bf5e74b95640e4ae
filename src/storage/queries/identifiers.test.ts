import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostFamilies } from '../../protocol/families/index.js';
import { familyColumn, familyColumns, ident } from './identifiers.js';

test('identifiers_are_quoted_with_embedded_quotes_doubled', () => {
  assert.equal(ident('a"b'), '"a""b"');
});

test('a_column_the_family_does_not_have_is_refused', () => {
  assert.equal(familyColumn(hostFamilies.host_disk, 'device'), '"device"');
  assert.throws(() => familyColumn(hostFamilies.host_disk, 'device; DROP TABLE x'), /has no column/);
});

test('family_columns_leave_out_what_is_omitted', () => {
  const all = familyColumns(hostFamilies.host_disk);
  const some = familyColumns(hostFamilies.host_disk, ['device']);
  assert.ok(all.includes('"device"'));
  assert.ok(!some.includes('"device"'));
});
