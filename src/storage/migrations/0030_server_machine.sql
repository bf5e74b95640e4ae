-- Which host a server entry is: a hash of the host's machine id (/etc/machine-id) that its agent sends at
-- enrollment (src/agent/identity.ts machineIdentity). Two hosts with the same host name (containers named
-- alike, a cloned VM) would otherwise share one entry and mix their data; the second gets an entry of its
-- own named `<hostname>~<first 8 hex>` (src/server/auth/agents.ts ensureServer). Null: the entry's agents
-- sent none (older agents); the first agent that sends one claims it.
ALTER TABLE pgvigil.servers ADD COLUMN machine_id text CHECK (machine_id ~ '^[0-9a-f]{32}$');
