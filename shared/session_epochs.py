"""Ending every session of a person at once: a per-subject epoch that every signed-in request is checked against.

A session cookie is signed and lives 30 minutes; clearing it in one browser left every copy of it working (issue 19
item 13: a copied cookie kept reading and changing the company after sign-out). So each session carries the epoch of
its subject as it was at sign-in, and every request that presents a signed-in session compares it with the stored one
(one point read): `end_every_session` moves the epoch on, and every session of that person, in any browser, on any
instance, stops at the next request.

This is the one home for ending a person's sessions: sign-out calls it, and so must anything else that takes a
person's access away (removing a company user, a compromised account).
Rows: `SessionEpochs`, partition `e|<first 2 hex of SHA-256(subject)>`, row `<SHA-256(subject)>` (no subject in clear).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import Field

from shared.context import Context
from shared.storage import Repository, Row
from shared.uow import retrying


class SessionEpoch(Row):
    subject_hash: str = Field(validation_alias="subjectHash", serialization_alias="subjectHash")
    epoch: int = 0
    ended_at: datetime | None = Field(default=None, validation_alias="endedAt", serialization_alias="endedAt")


class _Epochs(Repository[SessionEpoch]):
    table = "SessionEpochs"
    model = SessionEpoch

    def keys(self, row: SessionEpoch) -> tuple[str, str]:
        return _partition(row.subject_hash), row.subject_hash


def _hash(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()


def _partition(subject_hash: str) -> str:
    return f"e|{subject_hash[:2]}"


def current(ctx: Context, subject: str) -> int:
    """The subject's epoch now (0 until any session of theirs was ended): a new session is stamped with it."""
    h = _hash(subject)
    row = ctx.store(_Epochs).get(_partition(h), h)
    return row.epoch if row is not None else 0


def is_current(ctx: Context, subject: str, epoch: int | None) -> bool:
    """Whether a session stamped with `epoch` is still one of the subject's live sessions."""
    return (epoch or 0) == current(ctx, subject)


def end_every_session(ctx: Context, subject: str) -> int:
    """End every session of the person signed in as `subject`, everywhere, at once. Returns the new epoch."""
    h = _hash(subject)
    repo = ctx.store(_Epochs)
    now = ctx.now()

    def move_on() -> int:
        row = repo.get(_partition(h), h)
        if row is None:
            repo.insert(SessionEpoch(subject_hash=h, epoch=1, ended_at=now))
            return 1
        row.epoch, row.ended_at = row.epoch + 1, now
        repo.replace(row)
        return row.epoch

    return retrying(move_on)
