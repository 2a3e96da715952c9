"""RSE and replica methods: the seed's ``list_rses``/``get_rse``/``set_rse_availability``
plus the [2.0] admin methods (``create_rse``, ``update_rse``, ``delete_rse``) and the
replica registration extension (``replica_available``, ``replica_unavailable``)."""

from __future__ import annotations

from typing import Any

from .base import ClientBase

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
