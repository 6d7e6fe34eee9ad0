"""Request and response shapes of the accounts API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import ApiToken, User


class RegisterInput(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Use letters, digits and @/./+/-/_ only."},
    )
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True)

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(username=attrs["username"], email=attrs.get("email", ""))
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class RegisterOutput(serializers.Serializer):
    message = serializers.CharField()
    username = serializers.CharField()
    tokens = serializers.IntegerField()
    token = serializers.CharField()


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="In any case: John is john.")
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    name = serializers.CharField(
        max_length=100,
        required=False,
        default="",
        allow_blank=True,
        help_text="A name for the new token (phone, laptop), shown in the token list.",
    )


class LoginOutput(serializers.Serializer):
    token = serializers.CharField(help_text="The API token's key; shown this once only.")


class ApiTokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    prefix = serializers.CharField(help_text="The key's first characters, to recognise it by.")
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(help_text="Pushed back by use (see the README).")
    last_used = serializers.DateTimeField(
        allow_null=True, help_text="To within an hour; null until first used."
    )
    current = serializers.SerializerMethodField(help_text="The token this request came with.")

    def get_current(self, token: ApiToken) -> bool:
        return bool(token.pk == getattr(self.context["request"].auth, "pk", None))


class ApiTokensRevokedOutput(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many tokens were revoked.")


class PasswordChangeInput(serializers.Serializer):
    # Needs the user in the context (`{"user": ...}`) for the password validators.
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate_new_password(self, value: str) -> str:
        try:
            validate_password(value, user=self.context["user"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


class MeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True, help_text="Empty when none was given.")
    tokens = serializers.IntegerField()
    is_staff = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
