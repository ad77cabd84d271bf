"""The HTTP layer (FastAPI): the app, its routers, dependencies and views. The store,
the dispatchers and the runtime know nothing of HTTP."""

from .app import ROUTERS, create_app

__all__ = ["ROUTERS", "create_app"]
