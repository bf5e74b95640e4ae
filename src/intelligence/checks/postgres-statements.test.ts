import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type {
  ScannedTable,
  TableStatement,
  WindowStatement,
} from '../../storage/queries/statement-findings.sql.js';
import { pgMissingIndex, pgSlowStatement, pgStatementRegression } from './postgres-statements.js';
import { defaultThresholds } from './scope-fixture.js';

const targets = [
  { serverId: 1, targetId: 1 },
  { serverId: 2, targetId: 5 },
];

function stmt(extra: Partial<WindowStatement>): WindowStatement {
  return {
    serverId: 1,
    targetId: 1,
    queryid: '-4242',
    dbid: '16384',
    datname: 'shop',
    calls: 40,
    execTimeMs: 40 * 800,
    meanMs: 800,
    rows: 40,
    query: 'SELECT * FROM orders WHERE customer_id = $1',
    ...extra,
  };
}

describe('pg.slow_statement', () => {
  const t = () => defaultThresholds(pgSlowStatement);
  test('grades_the_mean_time_and_explains_with_the_text', () => {
    const { observations, scopes } = pgSlowStatement.evaluate(
      {
        targets,
        statements: [
          stmt({}),
          stmt({ queryid: '7', meanMs: 2500, execTimeMs: 100_000 }),
          stmt({ queryid: '8', meanMs: 100 }),
          stmt({ queryid: '9', meanMs: 9000, calls: 1 }),
          stmt({ queryid: '10', meanMs: Number.NaN }),
        ],
      },
      t,
      0,
    );
    assert.deepEqual(
      observations.map((o) => [o.object, o.severity]),
      [
        ['shop/query:-4242', 'info'],
        ['shop/query:7', 'warning'],
      ],
    );
    assert.match(
      observations[0]!.action,
      /EXPLAIN \(ANALYZE, BUFFERS\) SELECT \* FROM orders WHERE customer_id = \$1;/,
    );
    assert.match(observations[0]!.action, /replace each \$n/);
    assert.equal(observations[0]!.evidence.query, 'SELECT * FROM orders WHERE customer_id = $1');
    assert.deepEqual(scopes, targets);
  });

  test('texts_are_cut_and_findings_per_target_bounded', () => {
    const many = Array.from({ length: 30 }, (_, i) =>
      stmt({ queryid: String(i), query: 'x'.repeat(10_000) }),
    );
    const { observations } = pgSlowStatement.evaluate({ targets, statements: many }, t, 0);
    assert.equal(observations.length, 10);
    assert.ok(String(observations[0]!.evidence.query).length <= 500);
  });
});

describe('pg.statement_regression', () => {
  test('a_jump_against_its_own_past_is_a_warning_a_steady_one_is_not', () => {
    const { observations } = pgStatementRegression.evaluate(
      {
        targets,
        statements: [
          stmt({ meanMs: 400 }),
          stmt({ queryid: '2', meanMs: 150 }),
          stmt({ queryid: '3', meanMs: 900 }),
        ],
        past: [
          { serverId: 1, targetId: 1, queryid: '-4242', dbid: '16384', calls: 1000, execTimeMs: 1000 * 50 },
          { serverId: 1, targetId: 1, queryid: '2', dbid: '16384', calls: 1000, execTimeMs: 1000 * 20 },
          { serverId: 1, targetId: 1, queryid: '3', dbid: '16384', calls: 1000, execTimeMs: 1000 * 800 },
        ],
      },
      () => defaultThresholds(pgStatementRegression),
      0,
    );
    // 400 vs 50: 8×, +350 ms. 150 vs 20: 7.5× but only +130… still > 100: reported. 900 vs 800: steady.
    assert.deepEqual(
      observations.map((o) => [o.object, o.evidence.ratio]),
      [
        ['shop/query:-4242', 8],
        ['shop/query:2', 7.5],
      ],
    );
    assert.equal(observations[0]!.severity, 'warning');
  });
});

describe('pg.missing_index', () => {
  const table: ScannedTable = {
    serverId: 1,
    targetId: 1,
    datname: 'shop',
    schemaname: 'public',
    relname: 'orders',
    nLiveTup: 20_000,
    tableBytes: 1_000_000,
    seconds: 600,
    seqScans: 30,
    seqTupRead: 30 * 20_000,
    idxScans: 0,
  };
  const ts = (extra: Partial<TableStatement>): TableStatement => ({ ...stmt({}), table: 0, ...extra });
  const t = () => defaultThresholds(pgMissingIndex);

  test('names_the_table_the_statement_and_the_index_to_create', () => {
    const { observations } = pgMissingIndex.evaluate(
      {
        targets,
        tables: [table],
        statements: [
          ts({ queryid: '1', query: 'SELECT count(*) FROM orders_archive WHERE a = $1', calls: 100 }),
          ts({
            queryid: '2',
            query: 'SELECT * FROM public.orders WHERE customer_id = $1 AND created_at > $2',
          }),
        ],
      },
      t,
      0,
    );
    assert.equal(observations.length, 1);
    const o = observations[0]!;
    assert.equal(o.object, 'shop/public.orders');
    assert.equal(
      o.action,
      'psql -d shop -c "CREATE INDEX CONCURRENTLY ON public.orders (customer_id, created_at);"',
    );
    assert.deepEqual(o.evidence.where_columns, ['customer_id', 'created_at']);
    // The same table on a server that listens on 5433: the command names its port.
    const onPort = pgMissingIndex.evaluate(
      {
        targets,
        tables: [table],
        statements: [ts({ query: 'SELECT * FROM public.orders WHERE customer_id = $1' })],
        ports: new Map([[`${table.serverId}/${table.targetId}`, '5433']]),
      },
      t,
      0,
    );
    assert.equal(
      onPort.observations[0]?.action,
      'psql -p 5433 -d shop -c "CREATE INDEX CONCURRENTLY ON public.orders (customer_id);"',
    );
    assert.deepEqual(
      (o.evidence.statements as Array<{ queryid: string }>).map((s) => s.queryid),
      ['2'],
    );
  });

  test('unreadable_filters_give_explain_and_small_or_partial_scans_give_nothing', () => {
    const explain = pgMissingIndex.evaluate(
      {
        targets,
        tables: [table],
        statements: [ts({ query: 'SELECT * FROM orders WHERE lower(email) = $1' })],
      },
      t,
      0,
    );
    assert.match(explain.observations[0]!.action, /^-- in database shop .*\nEXPLAIN \(ANALYZE, BUFFERS\)/);
    const cases: ScannedTable[] = [
      { ...table, nLiveTup: 500, tableBytes: 100_000 },
      { ...table, seqScans: 5, seqTupRead: 5 * 20_000 },
      { ...table, seqTupRead: 30 * 100 },
    ];
    for (const c of cases) {
      const r = pgMissingIndex.evaluate({ targets, tables: [c], statements: [ts({})] }, t, 0);
      assert.deepEqual(r.observations, [], JSON.stringify(c));
    }
    // No statement naming it: nothing said about the table.
    assert.deepEqual(
      pgMissingIndex.evaluate({ targets, tables: [table], statements: [] }, t, 0).observations,
      [],
    );
  });
});
