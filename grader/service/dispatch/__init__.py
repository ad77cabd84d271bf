"""Handing gradings to workers: embedded threads (default) or Celery workers (a broker URL),
or nothing (an API process, whose supervisor feeds its graders); one dispatcher per file."""

from .base import Dispatcher
from .broker import CeleryDispatcher
from .embedded import EmbeddedDispatcher
from .handoff import Handoff
from .periodic import Feeder, Sweeper

__all__ = ["CeleryDispatcher", "Dispatcher", "EmbeddedDispatcher", "Feeder", "Handoff", "Sweeper"]
