"""Alembic environment: the URL comes from the caller (hub.migrate) or OMNIHUB_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from hub import models  # noqa: F401  (register tables)
from hub.db import Base, make_engine
from hub.search import include_object  # the full-text index (0360_search) is not a model
from hub.web import models as _web_models  # noqa: F401  (the inbox UI's tables)

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from config.settings import get_settings

    url = get_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=Base.metadata, render_as_batch=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
        return
    assert url, "no database URL: set OMNIHUB_DATABASE_URL (or sqlalchemy.url)"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
