/**
 * The agent's V8 options: V8 ignores an option it does not know when it is set at run time
 * (setFlagsFromString), so a node whose V8 renamed or dropped one would silently run the agent without
 * it. node refuses an unknown option on its command line: this runs node with them there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { agentV8Flags } from './v8-flags.js';

const run = promisify(execFile);

test('the_agent_v8_options_are_options_this_node_knows', async () => {
  assert.ok(agentV8Flags.length > 0);
  const r = await run(process.execPath, [...agentV8Flags, '-e', 'process.stdout.write("ran")']);
  assert.equal(r.stdout, 'ran');
  await assert.rejects(
    run(process.execPath, ['--interrupt-budget-no-such-option=1', '-e', '0']),
    /bad option/,
  );
});
