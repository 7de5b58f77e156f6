"""Counting the invitations stored before the funnel existed: run once after deploying it.

The funnel's counts are kept as invitations change (`invite_user/funnel.py`); an invitation written before that carries
no `countedStage` and would be counted only from its next change on, so a partner's funnel would miss its older
invitations. `python -m invite_user.funnel_backfill [partner-id ...]` (every partner when none is named) saves each
uncounted invitation again, unchanged, through its unit of work, whose transaction adds it to its creation day's count:
the one counting path, under the invitation's ETag. So a second run, or a run beside live traffic, counts nothing twice
(a concurrent change wins the ETag and counts the invitation itself; the retry then finds it counted).
Cost: one listing page per 1,000 invitations, then a read and a transaction per uncounted one.
"""

from __future__ import annotations

import sys

from invite_user.repository import InvitationStore, InvitationUnitOfWork
from partners.registry import PartnerRepository
from shared.context import Context, request_context
from shared.uow import attempt

PAGE = 1000


def count_uncounted(ctx: Context, partner_id: str) -> int:
    """Count the partner's invitations that no count row holds yet; returns how many were counted now."""
    store = ctx.store(InvitationStore)
    counted, token = 0, None
    while True:
        page = store.list_page(partner_id, page_size=PAGE, continuation_token=token)
        for listed in page.items:
            # The listing copy is written with the invitation, so it says whether that one is counted.
            if listed.counted_stage is None and _count(ctx, partner_id, InvitationStore.row_key(listed)):
                counted += 1
        token = page.continuation_token
        if not token:
            return counted


def _count(ctx: Context, partner_id: str, row_key: str) -> bool:
    def work(uow: InvitationUnitOfWork) -> bool:
        inv = uow.get(partner_id, row_key)
        if inv is None or inv.counted_stage is not None:
            return False  # gone, or counted meanwhile by its own change
        uow.save(inv)  # the invitations table's transact adds the count change (invite_user/repository.py)
        return True

    return attempt(lambda: ctx.unit(InvitationUnitOfWork), work)


def main(argv: list[str]) -> int:
    ctx = request_context()
    for partner_id in argv or PartnerRepository(ctx.storage).all_ids():
        print(f"{partner_id}: {count_uncounted(ctx, partner_id)} invitations counted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
