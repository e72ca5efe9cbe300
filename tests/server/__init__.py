"""Tests of the annotation server: API on SQLite and PostgreSQL, storage, migrations, crash safety."""
