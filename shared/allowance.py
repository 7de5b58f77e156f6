"""At most N of a kind in one partition, atomically: the one home of every "at most N" rule.

Counting the rows and then inserting one is a race: 30 parallel requests all count 9 and all insert (issue 19 item 10:
16-19 webhook subscriptions stored under a limit of 10, 26 domains under 20). Here a tally row `~n|<name>` in the same
partition lists what it counts; the operation that adds a counted row also rewrites the tally under the ETag it was
read with, in the SAME entity-group transaction, so of two requests deciding on one version only one commits (the
other meets a conflict and decides again on fresh data, through the app's one retry policy).

- `admit` returns the tally operation to commit with the new row (a refusal when `limit` are counted already);
- `release` returns the one to commit with a row's removal.
The tally lists ids, not a number: a removal that did not release its id cannot make the count drift for ever, since
at the limit the ids are checked against the rows that exist (`present`) before refusing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import Field

from shared.context import Context
from shared.errors import Conflict
from shared.storage import Op, Repository, Row, Storage

PREFIX = "~n|"  # after every other row key of a partition ("~" sorts last), so prefix queries never meet it


class Tally(Row):
    partition: str
    name: str
    members: list[str] = Field(default_factory=list)

    def storage_keys(self) -> tuple[str, str]:
        return self.partition, PREFIX + self.name


class _Tallies(Repository[Tally]):
    model = Tally

    def __init__(self, storage: Storage, table: str) -> None:
        super().__init__(storage)
        self.table = table  # type: ignore[misc]

    def keys(self, row: Tally) -> tuple[str, str]:
        return row.storage_keys()


class Exhausted(Conflict):
    """`limit` are counted already."""


def read(ctx: Context, table: str, partition: str, name: str) -> Tally | None:
    return ctx.store(_Tallies, table).get(partition, PREFIX + name)


def admit(ctx: Context, table: str, partition: str, name: str, member: str, *, limit: int,
          present: Callable[[], Iterable[str]], refusal: Callable[[], Exception] | None = None) -> Op:
    """The operation that counts `member` in (to commit in the transaction that writes its row), or `refusal()`.

    `present()` lists the members whose rows exist: read on first use (no tally yet) and at the limit only.
    """
    tally = read(ctx, table, partition, name)
    if tally is None:
        tally = Tally(partition=partition, name=name, members=sorted(set(present()) - {member}))
        kind = "create"  # a second first-comer conflicts on the insert
    else:
        kind = "update"  # under the ETag it was read with
    if member not in tally.members and len(tally.members) >= limit:
        existing = set(present())
        tally.members = [m for m in tally.members if m in existing]
        if len(tally.members) >= limit:
            raise (refusal() if refusal else Exhausted(f"At most {limit} may exist.", code="limit-reached"))
    if member not in tally.members:
        tally.members = [*tally.members, member]
    return Op(kind, tally)


def release(ctx: Context, table: str, partition: str, name: str, member: str) -> Op | None:
    """The operation that stops counting `member` (to commit with its row's removal); None when it is not counted."""
    tally = read(ctx, table, partition, name)
    if tally is None or member not in tally.members:
        return None
    tally.members = [m for m in tally.members if m != member]
    return Op("update", tally)
