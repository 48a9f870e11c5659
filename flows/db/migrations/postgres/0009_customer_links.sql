-- A meter belongs to one customer at a time: links of one meter may not overlap (valid_to is
-- exclusive, NULL open-ended). flows.db checks first and names the clashing link; this trigger
-- keeps any other writer out too. Writers of one meter's links queue on a transaction lock, so
-- two overlapping links written at once cannot both pass the check.
CREATE FUNCTION customer_meters_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('customer_meters:' || NEW.meter_id::text, 0));
    IF EXISTS (SELECT 1 FROM customer_meters c WHERE c.meter_id = NEW.meter_id
               AND (TG_OP = 'INSERT' OR NOT (c.customer_id = OLD.customer_id
                    AND c.meter_id = OLD.meter_id AND c.valid_from = OLD.valid_from))
               AND tstzrange(c.valid_from, c.valid_to) && tstzrange(NEW.valid_from, NEW.valid_to)) THEN
        RAISE EXCEPTION 'the meter is linked to a customer for part of that period already'
            USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER customer_meters_no_overlap BEFORE INSERT OR UPDATE ON customer_meters
    FOR EACH ROW EXECUTE FUNCTION customer_meters_no_overlap();
