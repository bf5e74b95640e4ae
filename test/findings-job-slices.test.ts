/**
 * Job checks that read the fleet in slices (`JobCheck.slices`), run by the findings engine on a real store:
 * each slice is read once for the checks that share it and evaluated by all of them before the next is
 * read; a check that fails on a slice sits out the rest of the run while the others go on; each check's
 * time is observed once per run. What the checks read once found is written before the sliced reads
 * begin.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type JobCheck,
  type JobObservation,
  onePerRun,
  type Slice,
} from '../src/intelligence/checks/types.js';
import { FindingsEngine } from '../src/intelligence/engine.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';

let ts: TestStore;

/** A made-up job check: the catalogue's fields filled in, `id` as its title, `parts` the rest. */
function fakeCheck<I>(
  id: string,
  parts: Pick<JobCheck<I>, 'load' | 'evaluate'> & Partial<JobCheck<I>>,
): JobCheck<I> {
  return {
    id,
    group: 'postgres',
    mode: 'job',
    kind: 'alert',
    title: id,
    doc: { evidence: '', action: '' },
    thresholds: {},
    ...parts,
  };
}

/** A warning on the host of `serverId`. */
const warningOn = (serverId: number, title: string): JobObservation => ({
  serverId,
  targetId: null,
  object: 'host',
  severity: 'warning',
  title,
  explanation: 'e',
  evidence: {},
  action: 'a',
});

before(async () => {
  ts = await createTestStore('job_slices');
});

after(async () => {
  await ts.close();
});

describe(`job checks read in slices (${testPgLabel})`, () => {
  test('each_slice_is_read_once_and_judged_by_every_check_of_the_read_before_the_next', async () => {
    const reads: number[] = [];
    // Three slices: 0, 1, 2.
    const shared = onePerRun(async (_db, _now, run) => {
      const slice = run as Slice;
      const at = (slice.after as number | undefined) ?? 0;
      reads.push(at);
      if (at < 2) slice.next = at + 1;
      return at;
    });
    const order: string[] = [];
    const check = (id: string, failsAt?: number) =>
      fakeCheck<number>(id, {
        slices: 'test read',
        async load(db, now, run) {
          const at = await shared(db, now, run);
          order.push(`${id}@${at}`);
          if (at === failsAt) throw new Error(`${id} fails on slice ${at}`);
          return at;
        },
        evaluate: (at) => ({ observations: [], scopes: [{ serverId: 1_000_000 + at, targetId: null }] }),
      });
    const observed: string[] = [];
    const engine = new FindingsEngine({
      pool: ts.store.pool,
      log: quietLog,
      checks: [check('test.a'), check('test.b', 1)],
      hooks: { observeJobCheck: (id) => observed.push(id) },
    });
    await engine.runJobChecks(new Date(), { everyCheck: true });
    assert.deepEqual(reads, [0, 1, 2], 'one read per slice');
    assert.deepEqual(order, ['test.a@0', 'test.b@0', 'test.a@1', 'test.b@1', 'test.a@2']);
    assert.deepEqual(observed.sort(), ['test.a', 'test.b']);
  });

  test('findings_of_the_checks_read_once_are_written_before_the_sliced_reads_begin', async () => {
    const serverId = await ensureServer(ts.store.pool, 'job-slices-order');
    const plain = fakeCheck<null>('test.plain', {
      load: async () => null,
      evaluate: () => ({
        observations: [warningOn(serverId, 'found by a check read once')],
        scopes: [{ serverId, targetId: null }],
      }),
    });
    // What the store held while each slice was read: the plain check's open findings.
    const seen: number[] = [];
    const sliced = fakeCheck<null>('test.sliced', {
      slices: 'ordered read',
      async load(db, _now, run) {
        const slice = run as Slice;
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pgvigil.findings
            WHERE server_id = $1 AND check_id = 'test.plain' AND state = 'open'`,
          [serverId],
        );
        seen.push(rows[0]!.n);
        if (slice.after === undefined) slice.next = 1;
        return null;
      },
      evaluate: () => ({ observations: [], scopes: [] }),
    });
    // The sliced check first in the list: the order of the checks does not decide it.
    const engine = new FindingsEngine({ pool: ts.store.pool, log: quietLog, checks: [sliced, plain] });
    const r = await engine.runJobChecks(new Date(), { everyCheck: true });
    assert.deepEqual(seen, [1, 1], 'the finding stood before the first slice was read');
    assert.equal(r.observations, 1);
    // The next run: the sliced check's step does not reconcile (and so clear) the plain check's finding.
    await engine.runJobChecks(new Date(Date.now() + 60_000), { everyCheck: true });
    const { rows } = await ts.store.pool.query<{ clear_count: number; state: string }>(
      `SELECT clear_count, state FROM pgvigil.findings WHERE server_id = $1 AND check_id = 'test.plain'`,
      [serverId],
    );
    assert.deepEqual(rows, [{ clear_count: 0, state: 'open' }]);
  });

  test('a_sliced_check_that_judges_in_turns_keeps_its_findings_past_the_30_minutes', async () => {
    const serverId = await ensureServer(ts.store.pool, 'job-slices-turns');
    let observe = true;
    const turns = fakeCheck<null>('test.turns', {
      slices: 'turns read',
      // Its turn comes round every 90 minutes.
      staleMs: () => 2 * 90 * 60_000,
      load: async () => null,
      evaluate: () => ({
        observations: observe ? [warningOn(serverId, 'judged in turns')] : [],
        // Between turns it does not look at this server.
        scopes: [],
      }),
    });
    const engine = new FindingsEngine({ pool: ts.store.pool, log: quietLog, checks: [turns] });
    const start = Date.now();
    await engine.runJobChecks(new Date(start), { everyCheck: true });
    observe = false;
    const state = async () =>
      (
        await ts.store.pool.query<{ state: string }>(
          `SELECT state FROM pgvigil.findings WHERE server_id = $1 AND check_id = 'test.turns'`,
          [serverId],
        )
      ).rows.map((r) => r.state);
    // 40 minutes without its turn: past the engine's 30, within the check's own horizon.
    await engine.runJobChecks(new Date(start + 40 * 60_000), { everyCheck: true });
    assert.deepEqual(await state(), ['open']);
    await engine.runJobChecks(new Date(start + 200 * 60_000), { everyCheck: true });
    assert.deepEqual(await state(), ['resolved']);
  });

  test('the_findings_job_leaves_the_sliced_checks_to_their_own_job', async () => {
    const loaded: string[] = [];
    const check = (id: string, slices?: string) =>
      fakeCheck<null>(id, {
        ...(slices ? { slices } : {}),
        load: async () => {
          loaded.push(id);
          return null;
        },
        evaluate: () => ({ observations: [], scopes: [] }),
      });
    const engine = new FindingsEngine({
      pool: ts.store.pool,
      log: quietLog,
      checks: [check('test.read_once'), check('test.read_in_slices', 'split read')],
    });
    await engine.runJobChecks(new Date(), { sliced: 'skip' });
    assert.deepEqual(loaded, ['test.read_once']);
    loaded.length = 0;
    // Its own job runs it whenever it runs (the job's interval paces it), and nothing else.
    await engine.runJobChecks(new Date(), { sliced: 'only' });
    await engine.runJobChecks(new Date(), { sliced: 'only' });
    assert.deepEqual(loaded, ['test.read_in_slices', 'test.read_in_slices']);
  });
});
