"""The custom user in the Django admin, and API tokens as a list that never shows a key."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken, User
from core.admin import ReadOnlyAdmin

admin.site.register(User, UserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Who holds which token and until when; staff may revoke (delete) one, never read or
    issue one. Replaces knox's own admin, whose list shows each token's digest."""

    can_delete = True
    list_display = ("name", "user", "prefix", "created", "expiry", "last_used")
    list_select_related = ("user",)
    search_fields = ("user__username", "name")
    ordering = ("-created",)
    fields = ("name", "user", "prefix", "created", "expiry", "last_used")
    readonly_fields = fields
