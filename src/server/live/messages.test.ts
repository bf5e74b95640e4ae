import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClientMessage } from './messages.js';

test('a_live_message_nested_8000_deep_is_refused_with_its_path_without_overflowing_the_stack', () => {
  const text = `{"type":${'['.repeat(8000)}${']'.repeat(8000)}}`;
  const r = parseClientMessage(text, 256);
  assert.ok(!r.ok);
  assert.match(r.message, /^type(\[0\])+: nested deeper than 32 levels$/);
});

test('an_unknown_type_is_quoted_short', () => {
  const r = parseClientMessage(JSON.stringify({ type: 'x'.repeat(500) }), 256);
  assert.ok(!r.ok && r.message.length < 150);
});
