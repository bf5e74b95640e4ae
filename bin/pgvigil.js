#!/usr/bin/env node
// `agent` and `collect` go to the agent's own entry, which loads neither the server nor the store client:
// the agent runs on database hosts and must stay small (see src/agent/main.ts). `logs` likewise, so that
// `logs parse` starts fast (src/agent/logs/main.ts).
const command = process.argv[2];
// The agent's V8 options are set before its modules load (one of them has to be; src/agent/v8-flags.ts).
if (command === 'agent') (await import('../dist/src/agent/v8-flags.js')).applyAgentV8Flags();
const entry =
  command === 'agent' || command === 'collect'
    ? '../dist/src/agent/main.js'
    : command === 'logs'
      ? '../dist/src/agent/logs/main.js'
      : '../dist/src/cli.js';
const { main } = await import(entry);

main(process.argv);
