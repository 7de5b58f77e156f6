"""The unit tests' one fake of storage answers as Table Storage does: the storage layer's Azurite tests, run over it."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceModifiedError

from shared.storage import Op
from tests.integration import test_storage as on_azurite
from tests.unit.fakes import MemoryStorage

# The same tests as on Azurite (tests/integration/test_storage.py), collected here with the in-memory `storage`.
test_round_trip_and_not_found = on_azurite.test_round_trip_and_not_found
test_insert_twice_conflicts = on_azurite.test_insert_twice_conflicts
test_replace_with_stale_etag_is_refused = on_azurite.test_replace_with_stale_etag_is_refused
test_transaction_is_all_or_nothing = on_azurite.test_transaction_is_all_or_nothing
test_merge_writes_only_given_fields = on_azurite.test_merge_writes_only_given_fields
test_pages_follow_continuation_tokens = on_azurite.test_pages_follow_continuation_tokens
test_malformed_row_is_the_projects_error = on_azurite.test_malformed_row_is_the_projects_error
test_requests_are_counted = on_azurite.test_requests_are_counted


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def test_a_transaction_spans_one_partition_of_at_most_100_rows(storage):
    repo = on_azurite.Things(storage)
    with pytest.raises(HttpResponseError):
        repo.transact([Op("create", on_azurite.Thing(group="g", name="a")), Op("create", on_azurite.Thing(group="h", name="b"))])
    with pytest.raises(HttpResponseError):
        repo.transact([Op("create", on_azurite.Thing(group="g", name=f"n{i}")) for i in range(101)])
    assert repo.get("g", "a") is None and repo.get("g", "n0") is None


def test_an_injected_writer_wins_the_next_transaction_only(storage):
    repo = on_azurite.Things(storage)
    table = storage.table(on_azurite.Things.table)
    table.conflicts, table.on_conflict = 1, lambda: repo.insert(on_azurite.Thing(group="g", name="theirs"))
    with pytest.raises(ResourceModifiedError):
        table.submit_transaction([("create", {"PartitionKey": "g", "RowKey": "mine"})])
    repo.transact([Op("create", on_azurite.Thing(group="g", name="mine"))])
    assert [e["name"] for e in table.entities()] == ["mine", "theirs"]
