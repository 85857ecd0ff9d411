"""The API mounted without loading it (app/api/mount.py): the routes registered
at start-up are exactly those the API serves, and concurrent first requests
load the handlers once."""

from __future__ import annotations

import asyncio

from app.api import docs, mount
from app.api.routes import OPERATIONS


def test_the_mounted_routes_are_the_operation_table():
    assert mount.OPERATION_ROUTES == tuple((op.method, op.path) for op in OPERATIONS)


def test_the_mounted_document_paths_are_those_the_documents_serve():
    assert mount.DOC_PATHS == tuple(docs.handlers())


def test_every_mounted_route_has_its_real_handler():
    loaded = mount.load_handlers()
    mounted = set(mount.OPERATION_ROUTES) | {("GET", path) for path in mount.DOC_PATHS}
    assert set(loaded) == mounted


async def test_concurrent_first_requests_share_one_load():
    lazy = mount.LazyApi()
    found = await asyncio.gather(*(lazy.handlers() for _ in range(8)))
    # Each load builds a new table: one object means one load.
    assert len({id(table) for table in found}) == 1
    assert await lazy.handlers() is found[0]
