/**
 * `pgvigil agent --max-memory`: on a node whose heap limit is above the budget the agent starts itself
 * again under the budget's heap flags, that process is the one collecting, and killing the first one with
 * SIGKILL (as an OOM killer or a test would) takes the agent down with it — no orphan keeps the spool.
 * Under NODE_OPTIONS with the flags already (the systemd unit) there is one process only.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { heapFlags, memoryBounds } from '../src/agent/memory.js';
import { startCli } from './helpers/cli.js';
import { until } from './helpers/wait.js';

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

/** Running (a zombie waiting for init to reap it counts as ended). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('the agent memory budget', () => {
  test('an_explicit_budget_restarts_the_agent_under_its_heap_flags_and_the_restarted_agent_dies_with_its_parent', async () => {
    const agent = startCli(['agent', '--listen', '127.0.0.1:0', '--max-memory', '64'], {
      NODE_OPTIONS: '',
    });
    try {
      await agent.waitFor(/serving http:\/\/127\.0\.0\.1:\d+\/metrics/, 30_000);
      const parent = agent.child.pid!;
      const kids = childrenOf(parent);
      assert.equal(kids.length, 1, 'one re-started agent');
      const child = kids[0]!;
      const argv = cmdline(child);
      for (const flag of heapFlags(memoryBounds(64))) assert.ok(argv.includes(flag), `${flag} in ${argv}`);
      assert.ok(argv.includes('--max-memory'));
      await agent.stop('SIGKILL');
      await until(() => !alive(child), 5000, 'the re-started agent ended with its parent');
    } finally {
      await agent.stop('SIGKILL');
    }
  });

  test('under_node_options_with_the_heap_flags_the_agent_runs_as_one_process_and_stops_cleanly', async () => {
    const agent = startCli(['agent', '--listen', '127.0.0.1:0', '--max-memory', '48'], {
      NODE_OPTIONS: heapFlags(memoryBounds(48)).join(' '),
    });
    try {
      await agent.waitFor(/serving http:\/\/127\.0\.0\.1:\d+\/metrics/, 30_000);
      assert.deepEqual(childrenOf(agent.child.pid!), []);
    } finally {
      assert.equal(await agent.stop('SIGTERM'), 0);
    }
  });

  test('refuses_a_budget_below_32_mib_naming_the_flag', async () => {
    const agent = startCli(['agent', '--listen', '127.0.0.1:0', '--max-memory', '16']);
    const code = await new Promise<number | null>((r) => agent.child.once('exit', (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(agent.output().stderr, /--max-memory <MiB>.*'16' is invalid/);
  });
});
