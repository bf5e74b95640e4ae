import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineParser, jsonObjectOf } from './types.js';

const throwing = defineParser({
  name: 'throws_on_x',
  component: 'thrower',
  description: 'fails on lines starting with x',
  create: () => (line) => {
    if (line.startsWith('x')) throw new Error('boom');
    return { ts: 1, level: 'warning', component: 'ok', message: line.toUpperCase(), context: {} };
  },
});

test('a_line_its_parser_fails_on_becomes_an_unparsed_record_of_the_parser_component', () => {
  const parse = throwing.create({});
  assert.deepEqual(parse('xyz', 0), {
    ts: undefined,
    level: 'info',
    component: 'thrower',
    message: 'xyz',
    context: { unparsed: true },
  });
  assert.equal(parse('abc', 0).message, 'ABC');
});

test('a_bad_option_still_fails_when_the_parser_is_created', () => {
  const strict = defineParser({
    name: 'strict',
    component: '',
    description: 'refuses a prefix',
    create: (opts) => {
      if (opts.prefix) throw new Error('no prefix here');
      return (line) => ({ ts: undefined, level: 'info', component: '', message: line, context: {} });
    },
  });
  assert.throws(() => strict.create({ prefix: '%m' }), /no prefix here/);
});

test('only_a_json_object_line_is_read_as_one', () => {
  assert.deepEqual(jsonObjectOf('{"a":1}'), { a: 1 });
  for (const line of ['[1]', 'null', '"s"', '{"a":', 'plain text', ''])
    assert.equal(jsonObjectOf(line), undefined);
});
