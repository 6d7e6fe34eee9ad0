"""The accounts API: register, login, logout, me, the caller's API tokens and password."""

from __future__ import annotations

from typing import cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ApiToken, User
from accounts.serializers import (
    ApiTokenOutput,
    ApiTokensRevokedOutput,
    LoginInput,
    LoginOutput,
    MeOutput,
    PasswordChangeInput,
    RegisterInput,
    RegisterOutput,
)
from accounts.throttling import (
    AuthRateThrottle,
    FirstRefusalThrottling,
    LoginAccountThrottle,
    PasswordChangeThrottle,
    SignupGlobalThrottle,
    SignupNetworkThrottle,
)
from billing.selectors import balance_of
from core.errors import error_responses

_EXAMPLE_KEY = "3f9a1c4e8b7d6a5f0e2c9b8a7d6e5f4c3b2a1908f7e6d5c4b3a29180f7e6d5c4"


class RegisterView(FirstRefusalThrottling):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    # Per network first: a refused request must not count against everyone's budget.
    throttle_classes = (SignupNetworkThrottle, SignupGlobalThrottle)

    @extend_schema(
        tags=["accounts"],
        operation_id="register",
        request=RegisterInput,
        responses={201: RegisterOutput, **error_responses(400, 415, 429)},
        auth=[],
        examples=[
            OpenApiExample(
                "Register",
                value={"username": "john", "password": "correct-horse-42"},
                request_only=True,
            ),
            OpenApiExample(
                "Registered",
                value={
                    "message": "User registered successfully.",
                    "username": "john",
                    "tokens": 4000,
                    "token": _EXAMPLE_KEY,
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, issued = services.user_register(**data.validated_data)
        body = {
            "message": "User registered successfully.",
            "username": user.username,
            "tokens": balance_of(user=user),
            "token": issued.key,
        }
        return Response(RegisterOutput(body).data, status=status.HTTP_201_CREATED)


class LoginView(FirstRefusalThrottling):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    # Per address first: one address's refused attempts must not use up an account's budget.
    throttle_classes = (AuthRateThrottle, LoginAccountThrottle)

    @extend_schema(
        tags=["accounts"],
        operation_id="login",
        request=LoginInput,
        responses={200: LoginOutput, **error_responses(400, 415, 429)},
        auth=[],
        examples=[
            OpenApiExample(
                "Log in",
                value={"username": "john", "password": "correct-horse-42", "name": "laptop"},
                request_only=True,
            ),
            OpenApiExample(
                "Logged in",
                value={"token": _EXAMPLE_KEY},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's own request: django-axes counts failures by it and marks it when locked.
        issued = services.user_login(request=request._request, **data.validated_data)
        return Response(LoginOutput({"token": issued.key}).data)


class LogoutView(APIView):
    @extend_schema(
        tags=["accounts"],
        operation_id="logout",
        request=None,
        responses={204: None, **error_responses(401)},
        description="Revokes the token this request came with; the caller's others stay.",
    )
    def post(self, request: Request) -> Response:
        services.user_logout(token=cast(ApiToken, request.auth))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(
        tags=["accounts"], operation_id="me", responses={200: MeOutput, **error_responses(401)}
    )
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)
        body = {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "tokens": balance_of(user=user),
            "is_staff": user.is_staff,
            "date_joined": user.date_joined,
        }
        return Response(MeOutput(body).data)


class ApiTokensView(ListAPIView):
    serializer_class = ApiTokenOutput

    def get_queryset(self) -> QuerySet[ApiToken]:
        return selectors.api_tokens_of(user=cast(User, self.request.user))

    @extend_schema(
        tags=["accounts"],
        operation_id="api_tokens_list",
        responses={200: ApiTokenOutput(many=True), **error_responses(401, 404)},
        description="The caller's API tokens, newest first. Never a key: only its prefix.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["accounts"],
        operation_id="api_tokens_revoke_all",
        request=None,
        responses={200: ApiTokensRevokedOutput, **error_responses(401)},
        description="Revokes every token of the caller, the one this request came with too.",
    )
    def delete(self, request: Request) -> Response:
        revoked = services.api_tokens_revoke_all(user=cast(User, request.user))
        return Response(ApiTokensRevokedOutput({"revoked": revoked}).data)


class ApiTokenView(APIView):
    @extend_schema(
        tags=["accounts"],
        operation_id="api_tokens_revoke",
        request=None,
        responses={204: None, **error_responses(401, 404)},
        description="Revokes one of the caller's tokens; another user's is a 404.",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        services.api_token_revoke(user=cast(User, request.user), token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordView(APIView):
    throttle_classes = (PasswordChangeThrottle,)

    @extend_schema(
        tags=["accounts"],
        operation_id="password_change",
        request=PasswordChangeInput,
        responses={204: None, **error_responses(400, 401, 415, 429)},
        description="Changes the password and revokes every other token of the caller; the "
        "token this request came with keeps working.",
    )
    def post(self, request: Request) -> Response:
        user = cast(User, request.user)
        data = PasswordChangeInput(data=request.data, context={"user": user})
        data.is_valid(raise_exception=True)
        services.password_change(
            user=user,
            old_password=data.validated_data["old_password"],
            new_password=data.validated_data["new_password"],
            keep=cast(ApiToken, request.auth),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
