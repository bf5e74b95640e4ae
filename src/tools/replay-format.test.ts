/** The replay file's line parser and the move of a stream in time: pure, on fixtures. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseReplayLine, replayLimits, shiftTables, timeOf } from './replay-format.js';

describe('replay format', () => {
  test('a_line_names_what_is_wrong', () => {
    assert.match(String((parseReplayLine('[1]') as { message: string }).message), /not a JSON object/);
    assert.match(
      String(
        (parseReplayLine('{"time":"2026-01-01T00:00:00","families":{}}') as { message: string }).message,
      ),
      /zone/,
    );
    assert.match(
      String((parseReplayLine('{"time":1,"families":[]}') as { message: string }).message),
      /families/,
    );
    const ok = parseReplayLine('{"time":"2026-01-01T00:00:00Z","families":{}}');
    assert.ok(ok.ok && ok.line.server === 'replay' && ok.line.time === Date.parse('2026-01-01T00:00:00Z'));
  });

  test('a_time_needs_its_zone_and_an_overlong_line_is_refused_before_parsing', () => {
    assert.equal(timeOf('2026-01-01T00:00:00+01:00'), Date.parse('2025-12-31T23:00:00Z'));
    assert.equal(timeOf('2026-01-01 00:00'), undefined);
    assert.equal(timeOf(-5), undefined);
    const long = `{"time":1,"families":{},"pad":"${'x'.repeat(replayLimits.maxLineBytes)}"}`;
    assert.match(String((parseReplayLine(long) as { message: string }).message), /longer than/);
  });

  test('moving_a_stream_moves_every_ts_and_nothing_else', () => {
    const moved = shiftTables(
      {
        host_cpu: {
          columns: ['cpu', 'ts'],
          rows: [
            ['total', 1000],
            ['0', '1970-01-01T00:00:02Z'],
          ],
        },
      },
      60_000,
    );
    assert.deepEqual(moved, {
      host_cpu: {
        columns: ['cpu', 'ts'],
        rows: [
          ['total', 61_000],
          ['0', 62_000],
        ],
      },
    });
  });
});
