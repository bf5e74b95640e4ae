import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberFromEnv } from './env.js';

test('a_number_from_the_environment_is_taken_within_its_range_and_refused_by_name_outside', () => {
  assert.equal(numberFromEnv({}, 'X', { min: 1 }), undefined);
  assert.equal(numberFromEnv({ X: '' }, 'X', { min: 1 }), undefined);
  assert.equal(numberFromEnv({ X: '3' }, 'X', { min: 1, max: 8 }), 3);
  assert.equal(numberFromEnv({ X: '7.5' }, 'X', { min: 5, max: 10, whole: false }), 7.5);
  assert.throws(() => numberFromEnv({ X: '7.5' }, 'X', { min: 1 }), /X=7\.5: expected a whole number ≥ 1$/);
  assert.throws(() => numberFromEnv({ X: '0' }, 'X', { min: 1, max: 8 }), /X=0: expected 1 to 8$/);
  assert.throws(
    () => numberFromEnv({ X: '4' }, 'X', { min: 5, max: 3600, whole: false, unit: 'seconds' }),
    /X=4: expected seconds from 5 to 3600$/,
  );
  // A long value is cut in the message.
  assert.throws(
    () => numberFromEnv({ X: 'y'.repeat(500) }, 'X', { min: 1 }),
    (err: Error) => err.message.length < 80,
  );
});
