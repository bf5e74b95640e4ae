import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { componentLogger, renderLogLine, resolveLogFormat } from './log.js';

const at = new Date(2026, 11, 3, 12, 1, 5).getTime();

test('a_log_event_renders_as_time_level_message_and_key_fields', () => {
  const line = JSON.stringify({
    level: 30,
    time: at,
    pid: 7,
    msg: 'server listening',
    url: 'http://127.0.0.1:8470',
  });
  assert.equal(renderLogLine(line), '12:01:05 INFO  server listening  url=http://127.0.0.1:8470\n');
});

test('component_lists_and_text_with_spaces_are_readable', () => {
  const line = JSON.stringify({
    level: 40,
    time: at,
    component: 'agent',
    msg: 'collectors reconfigured',
    collectors: ['cpu', 'memory'],
    reason: 'no such file',
    status: { a: 1 },
  });
  assert.equal(
    renderLogLine(line),
    '12:01:05 WARN  [agent] collectors reconfigured  collectors=cpu,memory reason="no such file" status={"a":1}\n',
  );
});

test('an_error_shows_its_message_and_for_errors_its_stack_indented', () => {
  const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' };
  assert.equal(
    renderLogLine(JSON.stringify({ level: 50, time: at, msg: 'failed', err })),
    '12:01:05 ERROR failed  err=boom\n    at f (x.js:1:1)\n',
  );
  assert.equal(
    renderLogLine(JSON.stringify({ level: 40, time: at, msg: 'retry', err })),
    '12:01:05 WARN  retry  err=boom\n',
  );
});

test('colour_marks_the_level_and_a_line_that_is_not_json_passes_unchanged', () => {
  assert.ok(
    renderLogLine(JSON.stringify({ level: 50, time: at, msg: 'x' }), { color: true }).includes(
      '\u001b[31mERROR',
    ),
  );
  assert.equal(renderLogLine('plain text\n'), 'plain text\n');
});

test('the_format_is_text_on_a_terminal_and_json_otherwise_unless_asked', () => {
  const saved = process.env.PGVIGIL_LOG_FORMAT;
  delete process.env.PGVIGIL_LOG_FORMAT;
  try {
    assert.equal(resolveLogFormat(undefined, true), 'text');
    assert.equal(resolveLogFormat(undefined, false), 'json');
    assert.equal(resolveLogFormat('text', false), 'text');
    assert.equal(resolveLogFormat('json', true), 'json');
  } finally {
    if (saved !== undefined) process.env.PGVIGIL_LOG_FORMAT = saved;
  }
});

/** The keys of a JSON line in order, repeats kept (JSON.parse would keep one of them). */
function keysOf(line: string): string[] {
  return [...line.matchAll(/[{,]"([^"]+)":/g)].map((m) => m[1]!);
}

test('a_part_of_a_part_names_both_in_one_component_key_and_keeps_their_bindings', () => {
  const lines: string[] = [];
  const root = pino({ base: { pid: 1 } }, { write: (l: string) => void lines.push(l) });
  const agent = componentLogger(root, 'agent');
  const spool = componentLogger(agent, 'spool', { dir: '/var/lib/x' });
  const cert = componentLogger(spool, 'check');
  agent.info('a');
  spool.info('b');
  cert.child({ attempt: 2 }).info('c');
  componentLogger(root, 'http').info('d');
  const got = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    got.map((r) => [r.component, r.dir, r.msg]),
    [
      ['agent', undefined, 'a'],
      ['agent.spool', '/var/lib/x', 'b'],
      ['agent.spool.check', '/var/lib/x', 'c'],
      ['http', undefined, 'd'],
    ],
  );
  for (const line of lines) {
    const keys = keysOf(line);
    assert.equal(new Set(keys).size, keys.length, `a key twice in ${line}`);
  }
  assert.equal(got[2]!.attempt, 2);
});
