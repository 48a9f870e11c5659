"""flows.db tests use the `db` fixture of tests/conftest.py (SQLite and PostgreSQL)."""
