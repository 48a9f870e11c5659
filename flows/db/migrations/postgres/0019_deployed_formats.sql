-- Columns both schemas share, stored as the deployed collector stores them (simt-emlite
-- 1.2.12, seen through a recording fake of its database: tests/interop/deployed_syncers.py):
-- * voltage (meter_shadows and its history meter_voltage): deci-volts, the meter's reading as
--   it comes (2335.0 for 233.5 V); Flows' API shows volts.
-- * backlight: the deployed names, by the meter's kind (code 0 is normal_sp on a single-phase
--   meter, always_off_3p on a three-phase one).
-- * import_b / export_b: 0.0 on meters without element B. A zero read of an element a meter
--   lacks is therefore not a read problem (any other value still is).
SET search_path TO flows, public;
UPDATE meter_voltage SET voltage = voltage * 10;
UPDATE meter_shadows SET voltage = voltage * 10 WHERE voltage IS NOT NULL;
UPDATE meter_shadows SET backlight = CASE
        WHEN backlight = 'normal' THEN CASE WHEN (SELECT r.hardware FROM meter_registry r
                                                  WHERE r.id = meter_shadows.id)
                                                 IN ('P1.ax', 'P1.cx')
                                            THEN 'always_off_3p' ELSE 'normal_sp' END
        WHEN backlight = 'always_off' THEN 'always_off_sp'
        WHEN backlight = 'always_on' THEN 'always_on_sp'
        WHEN backlight LIKE 'off\_after\_%s\_3p' THEN
            replace(replace(backlight, 'off_after_', 'n'), 's_3p', '_seconds_turn_off_3p')
        ELSE backlight END
    WHERE backlight IS NOT NULL;

CREATE OR REPLACE FUNCTION append_register(meter uuid, elem register_element, direction text,
                                           value double precision,
                                           at timestamptz, meter_time timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    register uuid;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    SELECT register_id INTO register FROM flows.meter_registers
     WHERE meter_id = meter AND element = elem AND status = 'enabled';
    IF register IS NULL THEN
        IF value <> 0 THEN  -- 0.0: the deployed collector's value for an element not there
            INSERT INTO flows.read_problems VALUES (meter, at, elem, direction, value,
                                                    'no enabled register for this element');
        END IF;
    ELSIF direction = 'import' THEN
        INSERT INTO flows.register_import VALUES (register, at, value, meter_time)
            ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO flows.register_export VALUES (register, at, value, meter_time)
            ON CONFLICT DO NOTHING;
    END IF;
END $$;
