-- +goose Up
-- The full-text index gets its pending list back, kept small. Without one
-- (00005) every chat message inserted about a dozen entries into the GIN
-- posting trees one by one, 67–96 µs a row on the benchmark's bodies, the
-- largest single cost of a send in PostgreSQL. A pending list collects
-- new entries and merges them in sorted bulk, 37–62 µs a row. The stall
-- that 00005 removed came from the merge of a 4 MB list, run inside the
-- insert that crossed the limit (0.4 s); at 64 kB that merge is 1/64 of it,
-- and the slowest batch of 6,000 measured was no slower than without a
-- list (6–31 ms against 10–36 ms, on a loaded 2-core machine).
ALTER INDEX messages_fulltext SET (fastupdate = on, gin_pending_list_limit = 64);

-- +goose Down
ALTER INDEX messages_fulltext SET (fastupdate = off);
ALTER INDEX messages_fulltext RESET (gin_pending_list_limit);
SELECT gin_clean_pending_list('messages_fulltext'::regclass);
