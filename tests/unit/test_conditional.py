"""If-Match as RFC 9110 reads it: strong comparison, `*`, lists, and the syntax the OpenAPI document states."""

from __future__ import annotations

import pytest

from shared import conditional
from shared.errors import Invalid, PreconditionFailed

TAG = conditional.etag_of('W/"datetime\'2026-11-24T06%3A00%3A00.1234567Z\'"')


def test_the_etag_is_a_strong_quoted_tag_that_hides_the_storage_format():
    assert TAG.startswith('"') and TAG.endswith('"') and "datetime" not in TAG
    assert conditional.etag_of("other") != TAG and conditional.etag_of(None) == conditional.etag_of("")


@pytest.mark.parametrize("header,ok", [
    (TAG, True), ("*", True), (f'"x", {TAG}', True), (f"{TAG} ,\"y\"", True),
    ("W/" + TAG, False),  # a weak tag never matches If-Match
    ('"x"', False), (TAG.strip('"') + '"', False),
])
def test_matches(header, ok):
    assert conditional.matches(header, TAG) is ok


def test_require_refuses_a_stale_tag_with_412():
    conditional.require(TAG, TAG, "customer")
    with pytest.raises(PreconditionFailed):
        conditional.require('"stale"', TAG, "customer")


@pytest.mark.parametrize("header", ["abc", '"unterminated', '"a" "b"', "", '"' + "a" * 250 + '"', '"tab\tinside"'])
def test_malformed_if_match_is_refused(header):
    with pytest.raises(Invalid):
        conditional.check_syntax(header)


@pytest.mark.parametrize("header", ["*", TAG, 'W/"a", "b"'])
def test_well_formed_if_match_passes(header):
    conditional.check_syntax(header)
