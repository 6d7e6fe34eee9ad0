"""Wallets with a "Top up selected wallets" action, and the ledger, read-only."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from billing import services
from billing.forms import TopUpForm
from billing.models import LedgerEntry, Wallet
from core.admin import ReadOnlyAdmin


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "balance", "updated_at")
    actions = ("top_up_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_top_up_permission(self, request: HttpRequest) -> bool:
        return services.top_up_allowed(by=cast(AbstractBaseUser, request.user))

    @admin.action(description="Top up selected wallets", permissions=("top_up",))
    def top_up_selected(
        self, request: HttpRequest, queryset: QuerySet[Wallet]
    ) -> HttpResponse | None:
        form = TopUpForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            wallets = list(queryset.select_related("user"))
            by = cast(AbstractBaseUser, request.user)
            refused = [w.user for w in wallets if not services.top_up_allowed(by=by, user=w.user)]
            if refused:
                self.message_user(
                    request,
                    "Only a superuser may top up their own wallet; nothing was added.",
                    messages.ERROR,
                )
                return None
            for wallet in wallets:
                services.top_up(
                    user=wallet.user,
                    amount=form.cleaned_data["amount"],
                    by=cast(AbstractBaseUser, request.user),
                    note=form.cleaned_data["note"],
                )
            self.message_user(
                request,
                f"Added {form.cleaned_data['amount']} tokens to {len(wallets)} wallet(s).",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Top up selected wallets",
            "form": form,
            "wallets": queryset.select_related("user"),
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/wallet/top_up.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "username",
        "kind",
        "delta",
        "balance_after",
        "reference",
        "created_by",
    )
    list_filter = ("kind", "created_at")
    search_fields = ("username", "reference", "note")
    # No date_hierarchy: it runs SELECT DISTINCT date_trunc(…) over the whole ledger.
    ordering = ("-created_at", "-id")
    list_select_related = ("created_by",)
