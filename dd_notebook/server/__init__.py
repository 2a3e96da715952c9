"""The embedded Data Dispatcher server: DD data server, auth server and catalog on SQLite."""

from .app import ServerApp, SweepSettings
from .local import LocalServer

__all__ = ["LocalServer", "ServerApp", "SweepSettings"]
