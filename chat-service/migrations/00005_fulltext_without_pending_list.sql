-- +goose Up
-- The full-text index on message bodies is a GIN index, which by default
-- collects new entries in a pending list and merges that list into the
-- index when it passes gin_pending_list_limit (4 MB) — inside whichever
-- INSERT crosses the limit. Under load that INSERT was a batch of sends
-- and took 0.4 s (29,000 buffers), stalling every send of the batch and
-- the batches queued behind it. Without the pending list, each insert
-- updates the index itself: a few entries per chat message, a steady cost
-- instead of a periodic stall.
ALTER INDEX messages_fulltext SET (fastupdate = off);
-- Entries still pending are merged now rather than by a later insert.
SELECT gin_clean_pending_list('messages_fulltext'::regclass);

-- +goose Down
ALTER INDEX messages_fulltext RESET (fastupdate);
