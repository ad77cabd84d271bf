"""The grading service: an HTTP API, durable jobs, embedded or Celery workers.

Optional extra ``service``; nothing here is imported by plain ``grade``.
"""
