"""The grader's version, kept apart so the judge can read it without importing click or docker."""

__version__ = "1.0.0"
