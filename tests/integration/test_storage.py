"""The storage layer on a real Azurite table."""

import pytest
from pydantic import Field

from shared.storage import ConcurrencyConflict, MalformedRow, Op, Repository, Row
from tests.support.expect import found


class Thing(Row):
    group: str
    name: str
    size: int = 0
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, str] | None = None


class Things(Repository[Thing]):
    table = "Things"
    model = Thing

    def keys(self, row):
        return row.group, row.name


def test_round_trip_and_not_found(storage):
    repo = Things(storage)
    repo.insert(Thing(group="g", name="a", size=3, tags=["x", "y"], meta={"k": "v"}))
    got = found(repo.get("g", "a"))
    assert got.size == 3 and got.tags == ["x", "y"] and got.meta == {"k": "v"}
    assert got.etag
    assert repo.get("g", "missing") is None


def test_insert_twice_conflicts(storage):
    repo = Things(storage)
    repo.insert(Thing(group="g", name="a"))
    with pytest.raises(ConcurrencyConflict):
        repo.insert(Thing(group="g", name="a"))


def test_replace_with_stale_etag_is_refused(storage):
    repo = Things(storage)
    repo.insert(Thing(group="g", name="a"))
    first, second = found(repo.get("g", "a")), found(repo.get("g", "a"))
    first.size = 1
    repo.replace(first)
    second.size = 2
    with pytest.raises(ConcurrencyConflict):
        repo.replace(second)
    assert found(repo.get("g", "a")).size == 1


def test_transaction_is_all_or_nothing(storage):
    repo = Things(storage)
    repo.insert(Thing(group="g", name="exists"))
    with pytest.raises(ConcurrencyConflict):
        repo.transact([Op("create", Thing(group="g", name="new")), Op("create", Thing(group="g", name="exists"))])
    assert repo.get("g", "new") is None


def test_merge_writes_only_given_fields(storage):
    repo = Things(storage)
    repo.insert(Thing(group="g", name="a", size=5, tags=["t"]))
    repo.transact([Op("merge", keys=("g", "a"), fields={"size": 6})])
    got = found(repo.get("g", "a"))
    assert got.size == 6 and got.tags == ["t"]


def test_pages_follow_continuation_tokens(storage):
    repo = Things(storage)
    repo.transact([Op("create", Thing(group="g", name=f"n{i:03d}")) for i in range(25)])
    seen, token = [], None
    while True:
        page = repo.query_page("PartitionKey eq @pk", {"pk": "g"}, page_size=10, continuation_token=token)
        seen += [t.name for t in page.items]
        token = page.continuation_token
        if not token:
            break
    assert seen == [f"n{i:03d}" for i in range(25)]
    with pytest.raises(ValueError):
        repo.query_page("PartitionKey eq @pk", {"pk": "g"}, continuation_token="not-a-token!")


def test_malformed_row_is_the_projects_error(storage):
    repo = Things(storage)
    repo._client().create_entity({"PartitionKey": "g", "RowKey": "bad", "group": "g", "name": "bad", "size": "huge"})
    with pytest.raises(MalformedRow):
        repo.get("g", "bad")


def test_requests_are_counted(storage):
    repo = Things(storage)
    repo.insert(Thing(group="g", name="warm"))  # creates the table once
    storage.counter.reset()
    repo.insert(Thing(group="g", name="a"))
    repo.get("g", "a")
    assert storage.counter.reset() == 2
