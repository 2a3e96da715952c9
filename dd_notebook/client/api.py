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
    for "not found"). Errors are raised as :mod:`dd_notebook.errors`
    exceptions, all deriving from ``DataDispatcherError`` (the one root of the
    package, shared with the MetaCat client and the catalog). Methods that exist
    only in dd-notebook (``get_handles_log``, ``project_files``,
    ``create_project_from_query``) come from :class:`NotebookExtensionsMixin`.

    One client holds one keep-alive HTTP session; use one client per thread.

    Retries (see :mod:`dd_notebook.client.retry`): a 503 or 429 answer is
    retried for every call (after ``Retry-After`` when sent). 502, 504 and
    connection resets are retried only for the calls that change nothing:
    ``version``, ``get_project``, ``list_projects``, ``search_projects``,
    ``get_handle``, ``list_handles``, ``get_file``, ``reserved_handles``,
    ``list_rses``, ``get_rse``, the logins and ``auth_info`` and the read-only
    extensions (handle logs, ``project_files``, ``project_state_counts``,
    ``get_proximity_map``, ``file_summary``). They are not retried for
    ``create_project``, ``copy_project``, ``next_file``, ``file_done``,
    ``file_failed``, ``restart_handles``, ``cancel_project``,
    ``activate_project``, ``delete_project`` and the RSE and replica changes:
    a proxy's 502/504 does not tell whether the server acted. ``timeout``
    bounds each whole call, retries included.

    Example:
        >>> client = DataDispatcherClient("http://localhost:8080/dd/data")  # doctest: +SKIP
        >>> client.login_password("alice", "secret")  # doctest: +SKIP
        >>> project = client.create_project(["dune:file1.root"])  # doctest: +SKIP

    Attributes:
        ServerURL: The data-server URL (also the token library key).
        AuthURL: The authentication-server URL.
        WorkerID: The worker id used by ``next_file``/``file_done``/``file_failed``.
        CPUSite: The CPU site sent with ``next_file``.
        Timeout: Longest time one call may take, retries included, seconds.
    """
