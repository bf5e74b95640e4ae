/**
 * V8 options of the `pgvigil agent` daemon, set by bin/pgvigil.js with `v8.setFlagsFromString` before it
 * imports the agent (node accepts only a few V8 options in NODE_OPTIONS, and the unit's ExecStart runs
 * pgvigil, not node). This module imports nothing but `node:v8`, so setting them loads next to nothing.
 *
 * - `--interrupt-budget=1081344` (V8's default 67584): the agent works about a millisecond every 10 s,
 *   and with V8's default tier-up budget much of that code is compiled by the optimising compiler
 *   (TurboFan) within its first minutes, at a cost the code never wins back while it runs that rarely. A
 *   16× budget leaves such lukewarm code in the interpreter and baseline compiler; code that is truly hot
 *   (a log flood through the parsers) still reaches it within milliseconds. The budget is read at every
 *   budget reset, so setting it at start-up takes effect.
 * - `--no-memory-reducer-for-small-heaps`: loading the agent's modules grows V8's old generation by more
 *   than a MiB before any full GC has run, and V8 then schedules its memory reducer: 8 s later two or
 *   three full (mark-compact) GCs in a row, 5–60 ms of CPU each, that return about 2 MiB of a heap capped
 *   at 32 MiB anyway. This option removes only that start-up trigger; the reducer still follows the full
 *   GCs the heap's own growth brings. It must be set before the agent's modules load (V8 checks it when
 *   the old generation grows): set from `main()` it came too late.
 *
 * Measured with bench/agent-overhead.ts (bench/RESULTS.md, "Agent overhead"). A GC option that V8 reads
 * only when the heap is set up (--single-threaded-gc, --no-memory-reducer) cannot be set this way.
 */
import { setFlagsFromString } from 'node:v8';

/** V8 options of `pgvigil agent` (see above). */
export const agentV8Flags = ['--interrupt-budget=1081344', '--no-memory-reducer-for-small-heaps'];

/** Sets agentV8Flags in this process; bin/pgvigil.js calls it before it imports the agent. */
export function applyAgentV8Flags(): void {
  for (const flag of agentV8Flags) setFlagsFromString(flag);
}
