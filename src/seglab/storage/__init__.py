"""Persistence: SQLAlchemy tables and migrations, repositories with core types in and out, and blobs."""
