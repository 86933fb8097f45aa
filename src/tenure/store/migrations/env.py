"""Alembic environment: run with the connection Tenure hands over (store.engine.migrate)."""

from alembic import context

from tenure.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
