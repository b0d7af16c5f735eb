"""Distributed mode: the Celery app, its beat schedule and thin tasks.

``celery -A workers worker`` and ``celery -A workers beat`` find ``app`` here.
"""

from workers.app import app

__all__ = ["app"]
