"""The agreement page's own messages ("agreements" domain): extracted, translated into every language, placeholders kept."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest

from accept_invite import agreement_page as acceptance_page
from accept_invite import pages
from accept_invite.views import Reply
from attest_agreement.customers import AcceptanceHow, AgreementAcceptance, Contact, Customer
from scripts import extract_messages
from shared import i18n
from tests.support import catalogs
from tests.support.expect import found


def test_catalogs_are_current_and_complete():
    assert extract_messages.update_domain("agreements", check=True) == []


@pytest.mark.parametrize("language", [lang for lang in i18n.SUPPORTED_LANGUAGES if lang != "en"])
def test_translations_keep_the_placeholders_and_differ_from_english(language):
    catalog = i18n.translations(pages.AGREEMENT_DOMAIN, language)
    for msgid in catalogs.messages("agreements"):
        translated = catalog.gettext(msgid)
        assert translated != msgid, (language, msgid)
        assert sorted(re.findall(r"%\(\w+\)s", translated)) == sorted(re.findall(r"%\(\w+\)s", msgid)), (language, msgid)


def test_the_page_renders_in_the_readers_language_with_the_frame_of_the_pages():
    customer = Customer(id="c1", name="Contoso Korea", country="KR", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), created_by={},
                        primary_contact=Contact(first_name="Harry", last_name="Kim", email="harry@contoso.com"))
    acceptance = AgreementAcceptance(customer_id="c1", how=AcceptanceHow.DIRECT_ACCEPTANCE, date_agreed=date(2026, 11, 20),
                                     recorded_at=datetime(2026, 11, 20, tzinfo=timezone.utc), by={},
                                     contact=Contact(first_name="Harry", last_name="Kim", email="harry@contoso.com"))
    reply = Reply(200, acceptance_page.TEMPLATE, {"inv": None, "company": customer, "acceptance": acceptance}, "ko-KR",
                  path=acceptance_page.PATH, params={"invitationId": "h"})
    template = found(reply.template, "the page's template")
    html = pages.render(template, reply.language, path=reply.path, params=reply.params, person=reply.session, **reply.context)
    assert '<html lang="ko"' in html and "Microsoft 고객 계약" in html and "2026년 11월 20일" in html
    assert "/api/assets/pages.css" in html  # the accept-invite frame
