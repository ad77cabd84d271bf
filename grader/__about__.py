"""The grader's version and its result schema's, kept apart so the judge can read them
without importing click, docker or pydantic."""

__version__ = "1.0.0"
SCHEMA_VERSION = "1.0"  # of the Feedback contract (grader.models); the host refuses another
