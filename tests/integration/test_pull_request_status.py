"""The state columns of `pull_requests` have one owner
(app/pull_requests/status.py): each value says what it means and the schema
allows exactly the enums' values."""

from __future__ import annotations

from enum import StrEnum

import pytest

from app.pull_requests import store as pull_requests
from app.pull_requests.status import CiFixOutcome, PullRequestState
from tests.support import states


@pytest.mark.parametrize("enum", [PullRequestState, CiFixOutcome])
def test_every_value_has_a_line_of_documentation(enum: type[StrEnum]):
    states.assert_documented("app/pull_requests/status.py", enum)


@pytest.mark.parametrize(
    ("column", "enum"), [("state", PullRequestState), ("ci_fix_outcome", CiFixOutcome)]
)
async def test_the_enums_are_what_the_schema_allows(pool, column: str, enum: type[StrEnum]):
    assert await states.check_values(pool, "pull_requests", column) == {m.value for m in enum}


async def test_a_stored_pull_request_reads_back_as_the_enums(pool):
    pr = await pull_requests.upsert(
        pool,
        installation_id=1,
        repository="octo/widgets",
        number=3,
        head_sha="b" * 40,
        head_ref="codegen/x",
        task_id=None,
    )
    assert pr.state is PullRequestState.OPEN and pr.ci_fix_outcome is None
    await pull_requests.update(
        pool, pr.id, state=PullRequestState.MERGED, ci_fix_outcome=CiFixOutcome.PASSED
    )
    after = await pull_requests.get(pool, pr.id)
    assert after is not None
    assert after.state is PullRequestState.MERGED and after.ci_fix_outcome is CiFixOutcome.PASSED
    assert await pull_requests.with_head(pool, "octo/widgets", "b" * 40) == []
