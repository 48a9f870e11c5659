-- A meter belongs to one customer at a time: links of one meter may not overlap (valid_to is
-- exclusive, NULL open-ended). flows.db checks first and names the clashing link; these
-- triggers keep any other writer out too.
CREATE TRIGGER customer_meters_no_overlap_insert BEFORE INSERT ON customer_meters
WHEN EXISTS (SELECT 1 FROM customer_meters c WHERE c.meter_id = NEW.meter_id
             AND c.valid_from < COALESCE(NEW.valid_to, '9999-12-31T23:59:59.999Z')
             AND NEW.valid_from < COALESCE(c.valid_to, '9999-12-31T23:59:59.999Z'))
BEGIN
    SELECT RAISE(ABORT, 'the meter is linked to a customer for part of that period already');
END;
CREATE TRIGGER customer_meters_no_overlap_update BEFORE UPDATE ON customer_meters
WHEN EXISTS (SELECT 1 FROM customer_meters c WHERE c.meter_id = NEW.meter_id
             AND NOT (c.customer_id = OLD.customer_id AND c.meter_id = OLD.meter_id
                      AND c.valid_from = OLD.valid_from)
             AND c.valid_from < COALESCE(NEW.valid_to, '9999-12-31T23:59:59.999Z')
             AND NEW.valid_from < COALESCE(c.valid_to, '9999-12-31T23:59:59.999Z'))
BEGIN
    SELECT RAISE(ABORT, 'the meter is linked to a customer for part of that period already');
END;
