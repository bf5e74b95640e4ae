-- The content of each batch in the ingest ledger: SHA-256 of its decompressed body. A batch sent again
-- under an (agent, seq) already stored is a duplicate when the digests match and a conflict (409) when
-- they differ. Rows written before this migration have no digest; a batch matching one of them is taken
-- as a duplicate, as before.
ALTER TABLE pgvigil.ingest_ledger ADD COLUMN digest bytea;
