"""The admin lists API tokens by name, owner and dates, and never shows a key or its digest."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiToken, User
from accounts.services import token_issue

pytestmark = pytest.mark.django_db


def test_the_token_list_and_page_show_no_key_and_no_digest(admin_browser: Client, user: User):
    issued = token_issue(user=user, name="kitchen-tablet")
    secrets = (issued.key, issued.token.digest, issued.token.token_key)

    listing = admin_browser.get("/admin/accounts/apitoken/")
    page = admin_browser.get(f"/admin/accounts/apitoken/{issued.token.pk}/change/")

    for response in (listing, page):
        assert response.status_code == 200
        html = response.content.decode()
        assert "kitchen-tablet" in html and "alice" in html
        assert not [secret for secret in secrets if secret in html]


def test_staff_cannot_issue_a_token_in_the_admin_but_can_revoke_one(
    admin_browser: Client, user: User
):
    issued = token_issue(user=user, name="lost-phone")

    assert admin_browser.get("/admin/accounts/apitoken/add/").status_code == 403
    assert admin_browser.get("/admin/knox/authtoken/").status_code == 404
    response = admin_browser.post(
        f"/admin/accounts/apitoken/{issued.token.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=issued.token.pk).exists()
