"""The bot's database: what members asked, what was quoted, feedback, article changes, /config.

Plain synchronous Python on SQLAlchemy 2 (SQLite by default, PostgreSQL through DATABASE_URL),
with Alembic migrations shipped inside this package and applied at start. Nothing here imports
Discord or the engine: the Discord layer calls it through `asyncio.to_thread`.
"""
