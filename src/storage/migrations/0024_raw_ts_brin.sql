-- Block-range indexes on `ts` of the raw tables read by time across the whole fleet: GET /api/v1/fleet
-- reads the last minutes of host_cpu, host_memory, pg_instance and pg_database for every server at once
-- (the raw tail after the minute tier). Their primary keys start with server_id, so a time range over a
-- thousand servers otherwise reads the whole day partition (measured: 150–450 ms a family for 1,000
-- servers and an hour of data, against 10–15 ms with these). Ingest appends rows in time order, so the
-- ranges stay narrow; a BRIN index is a few pages per partition and costs an insert almost nothing (the
-- newest, not yet summarised ranges are not maintained until summarised).
CREATE INDEX host_cpu_ts_brin ON pgvigil.host_cpu USING brin (ts);
CREATE INDEX host_memory_ts_brin ON pgvigil.host_memory USING brin (ts);
CREATE INDEX pg_instance_ts_brin ON pgvigil.pg_instance USING brin (ts);
CREATE INDEX pg_database_ts_brin ON pgvigil.pg_database USING brin (ts);
