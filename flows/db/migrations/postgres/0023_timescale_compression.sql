-- On TimescaleDB, the history hypertables (0002) compress chunks older than 30 days: columnar,
-- one segment per meter or register (a table's first column, what every reader filters by),
-- newest first within it. Thirty days leaves the recent past — where late reads, corrections
-- and the views' recomputation write — uncompressed; writes to older chunks still work
-- (TimescaleDB 2.11+ decompresses what they touch). Plain PostgreSQL: nothing to do.
SET search_path TO flows, public;

DO $$
DECLARE
    t text;
    segment text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY flows.history_tables() LOOP
        IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                        WHERE hypertable_schema = 'flows' AND hypertable_name = t) THEN
            CONTINUE;
        END IF;
        SELECT column_name INTO segment FROM information_schema.columns
         WHERE table_schema = 'flows' AND table_name = t AND ordinal_position = 1;
        EXECUTE format('ALTER TABLE flows.%I SET (timescaledb.compress, '
                       'timescaledb.compress_segmentby = %L, '
                       'timescaledb.compress_orderby = %L)', t, segment, 'timestamp DESC');
        PERFORM add_compression_policy(format('flows.%I', t)::regclass, interval '30 days',
                                       if_not_exists => true);
    END LOOP;
END $$;
