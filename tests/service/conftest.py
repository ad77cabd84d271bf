"""Fixtures of the service tests (defined in service_support.py, with the helpers)."""

from .service_support import browser, database, postgres, receiver, redis_url, start_service

__all__ = ["browser", "database", "postgres", "receiver", "redis_url", "start_service"]
