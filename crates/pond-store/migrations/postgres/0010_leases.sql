-- Who holds a claimed inbox event: a restarted instance takes its own events back at once instead
-- of waiting for their leases to end (the welcome code they carry is valid for 20 s).
ALTER TABLE inbox_events ADD COLUMN locked_by TEXT;
