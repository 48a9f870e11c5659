"""The views' tables, and the only SQL of the views: ``register_interval_hh`` (`intervals`),
the daily aggregates ``usage_meter_daily``, ``usage_customer_daily``, ``usage_esco_daily``
(`aggregates`), ``views_position`` (`position`), the rebuild's set-based SQL (`bulk`) and the
engine state older versions kept (`legacy`). Their DDL is in flows.db's migrations, which
create every table in one order; the change log and the base values are flows.db's
(`flows.db.change_log`, `flows.db.values`)."""
