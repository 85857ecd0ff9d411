-- Lost-delivery recovery (app/deliveries/sweep.py): where the last complete
-- sweep of GitHub's delivery log ended, so the next one reads only what is
-- newer. One row; a sweep holds it locked while it runs, so two processes
-- never sweep at once.
CREATE TABLE delivery_sweep (
    id               smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_delivery_id bigint,                     -- newest delivery id the last sweep read
    swept_at         timestamptz
);
INSERT INTO delivery_sweep (id) VALUES (1);
