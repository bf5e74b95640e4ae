import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitSqlStatements } from './sql-split.js';

test('splits_on_semicolons_and_reports_the_first_code_line', () => {
  const s = splitSqlStatements('-- header\nCREATE TABLE a (x int);\n\n/* c */\nCREATE TABLE b (y int);\n');
  assert.deepEqual(
    s.map((x) => x.line),
    [2, 5],
  );
  assert.match(s[1]!.sql, /CREATE TABLE b/);
});

test('keeps_semicolons_inside_strings_identifiers_dollar_quotes_and_comments', () => {
  const script = [
    "INSERT INTO t VALUES ('a;b', 'it''s;');",
    'CREATE TABLE "we;ird" (x int);',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$ SELECT 1; $fn$;',
    'DO $$ BEGIN PERFORM 1; END $$;',
    '-- a comment; with a semicolon',
    '/* block; /* nested; */ still; */ SELECT 2;',
  ].join('\n');
  const s = splitSqlStatements(script);
  assert.equal(s.length, 5);
  assert.equal(s[4]!.line, 6);
});

test('ignores_a_trailing_comment_without_a_statement', () => {
  assert.equal(splitSqlStatements('SELECT 1;\n-- end\n').length, 1);
  assert.equal(splitSqlStatements('   \n').length, 0);
});
