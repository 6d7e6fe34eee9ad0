"""The admin's top-up form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings


class TopUpForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built here, not at import, so MAX_TOP_UP follows the settings in force.
        self.fields = {
            "amount": forms.IntegerField(
                min_value=1,
                max_value=settings.MAX_TOP_UP,
                help_text="Tokens to add to each selected wallet.",
            ),
            **self.fields,
        }
