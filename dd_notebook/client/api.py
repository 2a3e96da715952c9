"""The :class:`DataDispatcherClient` facade, assembled from the client's mixins."""

from __future__ import annotations

from .auth import AuthMixin
from .extensions import NotebookExtensionsMixin
from .projects import ProjectsMixin
from .rses import RSEMixin
from .workers import WorkersMixin

__all__ = ["DataDispatcherClient"]


class DataDispatcherClient(NotebookExtensionsMixin, ProjectsMixin, WorkersMixin, RSEMixin, AuthMixin):
    """Client of a Data Dispatcher data server, compatible with ``data_dispatcher.api.DataDispatcherClient``.

    Every public method of the upstream Python API is here with the same name,
    parameters, defaults and return conventions (plain dicts, lists, ``None``
    for "not found"). Errors are raised as :mod:`dd_notebook.client.errors`
    exceptions, all deriving from ``DataDispatcherError``. Methods that exist
    only in dd-notebook (``get_handles_log``, ``project_files``,
    ``create_project_from_query``) come from :class:`NotebookExtensionsMixin`.

    One client holds one keep-alive HTTP session; use one client per thread.

    Example:
        >>> client = DataDispatcherClient("http://localhost:8080/dd/data")  # doctest: +SKIP
        >>> client.login_password("alice", "secret")  # doctest: +SKIP
        >>> project = client.create_project(["dune:file1.root"])  # doctest: +SKIP

    Attributes:
        ServerURL: The data-server URL (also the token library key).
        AuthURL: The authentication-server URL.
        WorkerID: The worker id used by ``next_file``/``file_done``/``file_failed``.
        CPUSite: The CPU site sent with ``next_file``.
        Timeout: Per-request read timeout, seconds.
    """
