-- A meter's MPANs (meter point administration numbers): one for import and, when it exports,
-- one for export (13 digits; the check digit is checked where they are written). An MPAN may
-- name several meters over time (a meter exchanged keeps its meter point), so it is indexed,
-- not unique; import and export of one meter differ.
ALTER TABLE meter_registry ADD COLUMN import_mpan TEXT
    CHECK (import_mpan GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]');
ALTER TABLE meter_registry ADD COLUMN export_mpan TEXT
    CHECK (export_mpan GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' AND export_mpan <> import_mpan);
CREATE INDEX meter_registry_import_mpan ON meter_registry (import_mpan) WHERE import_mpan IS NOT NULL;
CREATE INDEX meter_registry_export_mpan ON meter_registry (export_mpan) WHERE export_mpan IS NOT NULL;
