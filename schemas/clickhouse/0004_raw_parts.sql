-- 0004: what the raw flows table costs ClickHouse per flow, at insert and at merge (bench/ingest-views.ts
-- measures each change alone and together). Settings and index drops only: no data is rewritten, existing parts
-- take the new layout as they merge.
--
-- Fresh parts compact. A wide part writes two files per column (about 90 columns, arrays and LowCardinality
-- dictionaries count twice), each with its own write and compression buffers, a fixed cost that a 50,000-row
-- insert pays again every time; a compact part writes every column into one file. min_rows_for_wide_part is one
-- more than ingest's default batch.maxRows (50,000 rows per insert), so every insert of a default batch is
-- compact and a merge of two of them is wide (wide parts read single columns faster, and merge vertically).
--
-- Every merge into a wide part vertical. ClickHouse merges horizontally (every column through the merge sort,
-- row by row) below vertical_merge_algorithm_min_rows_to_activate, 131,072 rows by default, which is where the
-- first merges of fresh parts are; vertically it merges the sort key columns, then copies the others column by
-- column in that order, several times cheaper for this table's width. A compact result is always horizontal:
-- min_rows_for_wide_part keeps those merges small.
ALTER TABLE {{db}}.flows MODIFY SETTING min_rows_for_wide_part = 50001, vertical_merge_algorithm_min_rows_to_activate = 1;

-- Skip indexes that no query uses. The query API filters pods with startsWith() on the pod column (next to the
-- namespace, in the sort key: the primary key narrows it), DNS names with match() over the names array, and
-- dns_query with match(): a bloom_filter serves only equality, IN and has(), so none of these read it (EXPLAIN
-- indexes = 1). Equality on them in the SQL endpoint skipped nothing either: a bloom filter granule covers
-- 4 x 8192 rows, and a busy pod or name appears in almost every one. The IP indexes stay: the IP filters are
-- IN over exact addresses, which they serve.
ALTER TABLE {{db}}.flows
    DROP INDEX IF EXISTS idx_source_pod,
    DROP INDEX IF EXISTS idx_destination_pod,
    DROP INDEX IF EXISTS idx_source_names,
    DROP INDEX IF EXISTS idx_destination_names,
    DROP INDEX IF EXISTS idx_dns_query;
