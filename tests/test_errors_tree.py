"""One exception tree for the DD client, the MetaCat client and the catalog; drop-in token helpers."""

from __future__ import annotations

import logging

import pytest

import dd_notebook
import dd_notebook.errors as tree
import dd_notebook.metacat as metacat
from dd_notebook import DataDispatcherClient, LocalServer
from dd_notebook.metacat import MetaCatClient

MEANINGS = ["BadRequestError", "AuthenticationError", "AuthExpiredError", "PermissionDeniedError", "NotFoundError",
            "AlreadyExistsError", "ServerError", "EndpointUnavailableError", "InvalidResponseError",
            "RequestTimeoutError", "NetworkError"]


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory):
    with LocalServer(db=tmp_path_factory.mktemp("tree") / "dd.sqlite", demo=True, demo_files=40) as srv:
        yield srv


@pytest.fixture
def alice(catalog_server, tmp_path):
    client = DataDispatcherClient(catalog_server.url, catalog_server.auth_url, worker_id="w",
                                  token_library=str(tmp_path / "lib"))
    client.login_password("alice", "alice")
    return client


def test_every_error_has_one_root_and_is_drawn_once():
    for name in MEANINGS:
        cls = getattr(tree, name)
        assert issubclass(cls, dd_notebook.DDNotebookError) and name in tree.__doc__
        assert getattr(dd_notebook, name, cls) is cls
    assert dd_notebook.DataDispatcherError is dd_notebook.DDNotebookError is metacat.MetaCatError
    assert tree.WebAPIError is tree.HTTPError is metacat.MetaCatHTTPError


def test_metacat_and_catalog_names_are_the_same_meanings():
    from dd_notebook.server.catalog import errors as catalog_errors

    assert metacat.MetaCatNotFound is tree.NotFoundError and metacat.MetaCatBadRequest is tree.BadRequestError
    assert metacat.MetaCatTimeout is tree.RequestTimeoutError and metacat.MetaCatConnectionError is tree.NetworkError
    pairs = {"CatalogNotFound": tree.NotFoundError, "CatalogInvalidInput": tree.BadRequestError,
             "CatalogPermissionDenied": tree.PermissionDeniedError, "CatalogExists": tree.AlreadyExistsError,
             "MQLSyntaxError": tree.BadRequestError}
    for name, meaning in pairs.items():
        assert issubclass(getattr(catalog_errors, name), meaning)
    error = catalog_errors.CatalogNotFound("dataset x:y not found")
    assert (error.status, error.url, str(error)) == (404, None, "dataset x:y not found")


def test_one_root_catches_a_metacat_error_from_create_project_from_query(alice, catalog_server):
    catalog = MetaCatClient(catalog_server.metacat_url)
    with pytest.raises(dd_notebook.DataDispatcherError) as bad:
        alice.create_project_from_query("files frm nowhere", metacat=catalog)
    assert isinstance(bad.value, dd_notebook.BadRequestError) and bad.value.status == 400
    with pytest.raises(dd_notebook.NotFoundError):
        alice.create_project_from_query("files from nosuch:dataset", metacat=catalog)
    with pytest.raises(dd_notebook.NotFoundError):  # the same class for a missing DD project
        alice.reserved_handles(999_999)


def test_upstream_token_habits_work(alice, catalog_server, tmp_path):
    token = alice.Token
    assert token["sub"] == "alice" and token.get("sub") == "alice" and token.subject == "alice"
    assert token.encode() == token.encoded.encode() and isinstance(token.encode(), bytes)
    assert alice.auth_headers() == {"X-Authentication-Token": token.encoded}
    assert alice.token() is token and alice.tokens_saved()
    alice.Token = catalog_server.issue_token("bob")
    assert alice.Token["sub"] == "bob"
    cert = tmp_path / "cert.pem"
    cert.write_text("not used over plain HTTP")
    with pytest.raises(dd_notebook.AuthenticationError, match=catalog_server.auth_url):
        alice.my_x509_dn(str(cert))  # the embedded server needs HTTPS for certificates


def test_next_file_strict_mode_raises_instead_of_ending(alice, caplog):
    caplog.set_level(logging.INFO)
    assert alice.next_file(999_999, stagger=0) is False  # upstream habit: an HTTP error means "ended"
    alice.strict_next_file = True
    with pytest.raises(dd_notebook.HTTPError):
        alice.next_file(999_999, stagger=0)


def test_local_server_demo_is_opt_in(tmp_path):
    with LocalServer(db=tmp_path / "plain.sqlite") as srv:
        client = DataDispatcherClient(srv.url, srv.auth_url, token_library=str(tmp_path / "lib"))
        with pytest.raises(dd_notebook.AuthenticationError, match="admin"):
            client.login_password("admin", "admin")
