"""The operator's admin API: JSON over HTTP on its own listener (see app.py)."""

from .app import create_admin_app, start_admin
from .state import TOKEN

__all__ = ["TOKEN", "create_admin_app", "start_admin"]
