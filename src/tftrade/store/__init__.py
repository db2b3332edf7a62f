"""Storage: SQLAlchemy Core schema, engine factory, Alembic migrations and repositories.

A SQLite file by default; PostgreSQL (TimescaleDB when installed) by URL.
"""
