"""Fixtures of the service tests (defined in service_support.py, with the helpers)."""

from .service_support import database, postgres, receiver, redis_url, start_service

__all__ = ["database", "postgres", "receiver", "redis_url", "start_service"]
