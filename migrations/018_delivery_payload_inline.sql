-- Payloads are now stored zstd-compressed (app/deliveries/store.py): 12 KB of
-- webhook JSON becomes about 2 KB. Let a row of up to a page stay in the heap
-- rather than be moved out to TOAST at 2 KB: one tuple instead of a row plus
-- TOAST chunks and their index entries, for every delivery (benchmarks/README.md).
-- Larger payloads (a big PR's) still go to TOAST, uncompressed by PostgreSQL
-- (STORAGE EXTERNAL, migration 001): they are compressed already.
ALTER TABLE webhook_deliveries SET (toast_tuple_target = 8160);
