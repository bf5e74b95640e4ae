/**
 * Child process for the crash test: runs the test agent in a loop (read → spool → commit) until killed.
 * A random pause between the spool write and the commit widens the window the parent's SIGKILL aims at.
 * Usage: node log-agent-child.js DIR PATTERN
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestAgent } from './log-agent.js';

const [dir, pattern] = process.argv.slice(2);
if (!dir || !pattern) throw new Error('usage: log-agent-child DIR PATTERN');
const agent = await startTestAgent(dir, [pattern], {
  rotateWaitMs: 50,
  beforeCommit: () => sleep(Math.random() * 15),
});
process.stdout.write('ready\n');
for (;;) {
  await agent.step();
  await sleep(2);
}
