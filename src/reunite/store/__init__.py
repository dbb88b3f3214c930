"""The database: SQLAlchemy models, Alembic migrations, imports."""
