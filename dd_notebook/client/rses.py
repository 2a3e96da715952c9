"""RSE and replica methods: the seed's ``list_rses``/``get_rse``/``set_rse_availability``
plus the [2.0] admin methods (``create_rse``, ``update_rse``, ``delete_rse``) and the
replica registration extension (``replica_available``, ``replica_unavailable``), and the
read-only extensions of the embedded server: the proximity map, a replica/dataset summary of
files before a project exists, and whether the user may change RSEs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import ClientBase
from .errors import (
    BadRequestError,
    EndpointUnavailableError,
    HTTPError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
)

__all__ = ["RSEMixin"]


class RSEMixin(ClientBase):
    """RSE (storage element) and replica methods."""

    def list_rses(self) -> list[dict[str, Any]]:
        """Return information about all RSEs.

        Returns:
            A list of RSE dicts.
        """
        return self._http.get("rses")

    def get_rse(self, name: str) -> dict[str, Any] | None:
        """Returns information about an RSE.

        Args:
            name: RSE name.

        Returns:
            The RSE dict, or None if not found.
        """
        return self._http.get("get_rse", [("name", name)], none_if_not_found=True)

    def set_rse_availability(self, name: str, available: bool) -> dict[str, Any] | None:
        """Changes the RSE availability flag. The user must be an admin.

        Args:
            name: RSE name.
            available: New availability.

        Returns:
            The updated RSE dict, or None if not found.
        """
        params = [("name", name), ("available", "yes" if available else "no")]
        return self._http.get("set_rse_availability", params, none_if_not_found=True)

    def create_rse(
        self,
        name: str,
        description: str | None,
        is_enabled: bool | None = True,
        is_available: bool | None = True,
        is_tape: bool | None = False,
        pin_url: str | None = None,
        poll_url: str | None = None,
        remove_prefix: str | None = None,
        add_prefix: str | None = None,
        pin_prefix: str | None = None,
        preference: int | None = None,
        interface: str | None = None,
    ) -> dict[str, Any] | None:
        """Creates an RSE (admin only) [2.0].

        Args:
            name: RSE name.
            description: Free text.
            is_enabled: Whether replicas in this RSE are used.
            is_available: Whether the RSE is up.
            is_tape: Whether it is a tape RSE.
            pin_url: Staging endpoint (tape).
            poll_url: Staging poll endpoint (native dCache).
            remove_prefix: URL prefix removed to build paths.
            add_prefix: Prefix added to build paths.
            pin_prefix: Prefix used in pin requests.
            preference: Integer preference.
            interface: Tape interface, ``"native"`` or ``"wlcg"``.

        Returns:
            The new RSE dict.
        """
        body = {
            "name": name,
            "description": description,
            "is_enabled": is_enabled,
            "is_available": is_available,
            "is_tape": is_tape,
            "pin_url": pin_url,
            "poll_url": poll_url,
            "remove_prefix": remove_prefix,
            "add_prefix": add_prefix,
            "pin_prefix": pin_prefix,
            "preference": preference,
            "interface": interface,
        }
        return self._http.post("create_rse", body)

    def update_rse(
        self,
        name: str,
        description: str | None = None,
        is_enabled: bool | None = None,
        is_available: bool | None = None,
        is_tape: bool | None = None,
        pin_url: str | None = None,
        poll_url: str | None = None,
        remove_prefix: str | None = None,
        add_prefix: str | None = None,
        pin_prefix: str | None = None,
        preference: int | None = None,
        interface: str | None = None,
    ) -> dict[str, Any] | None:
        """Updates an RSE (admin only) [2.0]; arguments left as None are not changed.

        Returns:
            The updated RSE dict, or None if the RSE does not exist.
        """
        body = {
            "Name": name,
            "Description": description,
            "Enabled": is_enabled,
            "Available": is_available,
            "Tape": is_tape,
            "PinURL": pin_url,
            "PollURL": poll_url,
            "RemovePrefix": remove_prefix,
            "AddPrefix": add_prefix,
            "PinPrefix": pin_prefix,
            "Preference": preference,
            "Type": interface,
        }
        return self._http.post("update_rse", body)

    def delete_rse(self, name: str) -> None:
        """Deletes an RSE and its replicas (admin only) [2.0]."""
        return self._http.get("delete_rse", [("name", name)])

    def replica_available(
        self, namespace: str, name: str, rse: str, path: str | None = None, preference: int = 0, url: str | None = None
    ) -> dict[str, Any] | None:
        """Registers a replica as available (admin; extension endpoint of the embedded server).

        Returns:
            The replica dict, or None when the server lacks the endpoint (upstream).
        """
        params = [("rse", rse), ("namespace", namespace), ("name", name)]
        return self._http.post("replica_available", {"path": path, "url": url, "preference": preference}, params)

    def replica_unavailable(self, namespace: str, name: str, rse: str) -> dict[str, Any]:
        """Marks a replica unavailable (admin; extension endpoint of the embedded server).

        Returns:
            The replica dict.

        Raises:
            NotFoundError: unknown replica, or the server lacks the endpoint (upstream).
        """
        params = [("rse", rse), ("namespace", namespace), ("name", name)]
        return self._http.get("replica_unavailable", params)

    def get_proximity_map(self) -> list[dict[str, Any]]:
        """Return the CPU-site/RSE proximity map (extension of the embedded server; not in the upstream API).

        Returns:
            Rows ``{"cpu", "rse", "proximity"}``, the input of
            :func:`dd_notebook.frames.proximity_frame`.

        Raises:
            EndpointUnavailableError: the server has no ``proximity_map`` endpoint (upstream servers).
        """
        try:
            return self._http.get("proximity_map")
        except (NotFoundError, ServerError) as exc:
            raise _unavailable(exc, "proximity_map", "the proximity map") from None

    def file_summary(self, dids: Sequence[str]) -> dict[str, Any]:
        """Return the replicas, RSE states and catalog datasets of files (extension of the embedded server).

        Used to preview a project before it exists: the catalog does not know DD
        replica state.

        Args:
            dids: ``"namespace:name"`` strings (at most 1,000,000).

        Returns:
            ``{"files": n, "rses": [{"name", "is_available", "is_tape", "is_enabled"}],
            "replicas": {"file": [...], "rse": [...], "available": [...]},
            "datasets": {"file": [...], "dataset": [...]} or None}``; ``file`` values
            are positions in ``dids``.

        Raises:
            BadRequestError: a DID is malformed or there are too many.
            EndpointUnavailableError: the server has no ``file_summary`` endpoint (upstream servers).
        """
        try:
            answer = self._http.post("file_summary", {"dids": list(dids)}, none_if_not_found=False)
        except (NotFoundError, ServerError) as exc:
            raise _unavailable(exc, "file_summary", "replica summaries") from None
        if not isinstance(answer, dict):
            raise EndpointUnavailableError(self._http.url("file_summary"), None,
                                           "this Data Dispatcher server has no file_summary endpoint")
        return answer

    def may_change_rses(self) -> bool:
        """Tell whether the logged-in user may change RSEs (is an admin), without changing anything.

        Neither the tokens nor the auth server's ``whoami`` carry the admin flag,
        so this asks ``set_rse_availability`` with an invalid value: the server
        checks the user before the value (dd-protocol §3.21), so an admin gets
        400 and anyone else 403, and nothing is written. Works on upstream servers too.

        Returns:
            True for an admin.

        Raises:
            AuthenticationError: no token, or the server rejects it.
        """
        try:
            self._http.get("set_rse_availability", [("name", ""), ("available", "check")])
        except PermissionDeniedError:
            return False
        except BadRequestError:
            return True
        return True


def _unavailable(exc: HTTPError, endpoint: str, what: str) -> EndpointUnavailableError:
    return EndpointUnavailableError(exc.url, exc.status, f"this Data Dispatcher server does not provide {what} "
                                    f"(no {endpoint} endpoint; it is an extension of the dd-notebook server)",
                                    exc.body)
