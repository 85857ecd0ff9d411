-- The delivery sweep (app/deliveries/sweep.py) held its row locked for the
-- whole sweep, keeping a transaction and a pooled connection open while it
-- read GitHub's log and paced redeliveries a second apart. A lease on the row
-- does the same job (one sweep at a time, across processes) with short
-- transactions, and frees itself if the sweeping process dies.
ALTER TABLE delivery_sweep
    ADD COLUMN lease_owner  text,
    ADD COLUMN leased_until timestamptz;
