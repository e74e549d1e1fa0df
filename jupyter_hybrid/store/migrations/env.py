"""Alembic environment: always run by `store.migrate.upgrade` on a connection it passes in."""

from alembic import context

from jupyter_hybrid.store import metadata  # the package registers every table

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():  # a no-op inside the caller's transaction, which holds the lock
    context.run_migrations()
