"""The Django admin tops wallets up through the service and shows the ledger read-only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from billing.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db


def test_top_up_action_asks_for_an_amount_then_credits_each_selected_wallet(
    admin_browser: Client, make_user: Callable[..., User]
):
    alice, bob = make_user("alice"), make_user("bob")
    url = "/admin/billing/wallet/"
    selection = {"action": "top_up_selected", "_selected_action": [alice.pk, bob.pk]}

    form_page = admin_browser.post(url, selection)
    assert form_page.status_code == 200
    assert b"Top up selected wallets" in form_page.content

    done = admin_browser.post(url, {**selection, "apply": "1", "amount": 250, "note": "promo"})

    assert done.status_code == 302
    assert Wallet.objects.get(pk=alice.pk).balance == 4250
    assert Wallet.objects.get(pk=bob.pk).balance == 4250
    entry = LedgerEntry.objects.filter(kind="top_up").first()
    assert entry is not None and entry.note == "promo"
    assert entry.created_by is not None and entry.created_by.username == "root"


def test_top_up_action_rejects_a_bad_amount_and_changes_nothing(
    admin_browser: Client, make_user: Callable[..., User]
):
    alice = make_user("alice")
    response = admin_browser.post(
        "/admin/billing/wallet/",
        {"action": "top_up_selected", "_selected_action": [alice.pk], "apply": "1", "amount": -5},
    )

    assert response.status_code == 200
    assert Wallet.objects.get(pk=alice.pk).balance == 4000


def test_the_ledger_admin_is_read_only(admin_browser: Client, make_user: Callable[..., User]):
    alice = make_user("alice")
    entry = LedgerEntry.objects.get(wallet_id=alice.pk)

    assert admin_browser.get("/admin/billing/ledgerentry/").status_code == 200
    page = admin_browser.get(f"/admin/billing/ledgerentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert (
        admin_browser.post(
            f"/admin/billing/ledgerentry/{entry.pk}/change/", {"delta": 1}
        ).status_code
        == 403
    )
    assert admin_browser.get(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
    assert admin_browser.get("/admin/billing/ledgerentry/add/").status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).delta == 4000


def test_the_top_up_action_needs_the_billing_permission(make_user: Callable[..., User]):
    alice = make_user("alice")
    make_user("clerk", is_staff=True)
    clerk = User.objects.get(username="clerk")
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_wallet", "change_wallet"])
    )
    browser = Client()
    browser.force_login(clerk)

    page = browser.get("/admin/billing/wallet/")
    assert page.status_code == 200 and b"top_up_selected" not in page.content
    browser.post(
        "/admin/billing/wallet/",
        {"action": "top_up_selected", "_selected_action": [alice.pk], "apply": "1", "amount": 9},
    )
    assert Wallet.objects.get(pk=alice.pk).balance == 4000


def test_the_top_up_action_refuses_a_staff_members_own_wallet(make_user: Callable[..., User]):
    clerk = make_user("clerk", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_wallet", "change_wallet", "top_up"])
    )
    browser = Client()
    browser.force_login(clerk)

    browser.post(
        "/admin/billing/wallet/",
        {"action": "top_up_selected", "_selected_action": [clerk.pk], "apply": "1", "amount": 9},
    )

    assert Wallet.objects.get(pk=clerk.pk).balance == 4000
    assert not LedgerEntry.objects.filter(kind="top_up").exists()


def test_the_ledger_admin_shows_who_made_an_entry(
    admin_browser: Client, make_user: Callable[..., User]
):
    alice = make_user("alice")
    admin_browser.post(
        "/admin/billing/wallet/",
        {"action": "top_up_selected", "_selected_action": [alice.pk], "apply": "1", "amount": 9},
    )

    page = admin_browser.get("/admin/billing/ledgerentry/?kind__exact=top_up")

    assert b"column-created_by" in page.content and b">root<" in page.content
