-- Columns both schemas share, stored as the deployed collector stores them (simt-emlite
-- 1.2.12, seen through a recording fake of its database: tests/interop/deployed_syncers.py):
-- * voltage (meter_shadows and its history meter_voltage): deci-volts, the meter's reading as
--   it comes (2335.0 for 233.5 V); Flows' API shows volts.
-- * backlight: the deployed names, by the meter's kind (code 0 is normal_sp on a single-phase
--   meter, always_off_3p on a three-phase one).
-- * import_b / export_b: 0.0 on meters without element B. A zero read of an element a meter
--   lacks is therefore not a read problem (any other value still is).
UPDATE meter_voltage SET voltage = printf('%.1f', CAST(voltage AS REAL) * 10);
UPDATE meter_shadows SET voltage = printf('%.1f', CAST(voltage AS REAL) * 10)
    WHERE voltage IS NOT NULL;
UPDATE meter_shadows SET backlight = CASE
        WHEN backlight = 'normal' THEN CASE WHEN (SELECT r.hardware FROM meter_registry r
                                                  WHERE r.id = meter_shadows.id)
                                                 IN ('P1.ax', 'P1.cx')
                                            THEN 'always_off_3p' ELSE 'normal_sp' END
        WHEN backlight = 'always_off' THEN 'always_off_sp'
        WHEN backlight = 'always_on' THEN 'always_on_sp'
        WHEN backlight LIKE 'off\_after\_%s\_3p' ESCAPE '\' THEN
            replace(replace(backlight, 'off_after_', 'n'), 's_3p', '_seconds_turn_off_3p')
        ELSE backlight END
    WHERE backlight IS NOT NULL;

DROP TRIGGER meter_shadows_reads;
CREATE TRIGGER meter_shadows_reads AFTER UPDATE ON meter_shadows
WHEN NEW.reads_at IS NOT OLD.reads_at
  OR NEW.import_a IS NOT OLD.import_a OR NEW.import_b IS NOT OLD.import_b
  OR NEW.export_a IS NOT OLD.export_a OR NEW.export_b IS NOT OLD.export_b BEGIN
    INSERT INTO read_problems
        SELECT NEW.id, COALESCE(NEW.reads_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), e.element,
               e.direction, e.read, 'no enabled register for this element'
          FROM (SELECT 'A' AS element, 'import' AS direction, NEW.import_a AS read
                UNION ALL SELECT 'B', 'import', NEW.import_b
                UNION ALL SELECT 'A', 'export', NEW.export_a
                UNION ALL SELECT 'B', 'export', NEW.export_b) AS e
         WHERE e.read IS NOT NULL AND e.read <> 0 AND NOT EXISTS (
               SELECT 1 FROM meter_registers r
                WHERE r.meter_id = NEW.id AND r.element = e.element AND r.status = 'enabled');
    INSERT OR IGNORE INTO register_import
        SELECT r.register_id, COALESCE(NEW.reads_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
               CASE r.element WHEN 'A' THEN NEW.import_a ELSE NEW.import_b END, NEW.reads_meter_time
          FROM meter_registers r
         WHERE r.meter_id = NEW.id AND r.status = 'enabled' AND r.element IN ('A', 'B')
           AND (CASE r.element WHEN 'A' THEN NEW.import_a ELSE NEW.import_b END) IS NOT NULL;
    INSERT OR IGNORE INTO register_export
        SELECT r.register_id, COALESCE(NEW.reads_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
               CASE r.element WHEN 'A' THEN NEW.export_a ELSE NEW.export_b END, NEW.reads_meter_time
          FROM meter_registers r
         WHERE r.meter_id = NEW.id AND r.status = 'enabled' AND r.element IN ('A', 'B')
           AND (CASE r.element WHEN 'A' THEN NEW.export_a ELSE NEW.export_b END) IS NOT NULL;
END;

