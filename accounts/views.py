"""The accounts API: register, login, logout, me."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import User
from accounts.serializers import (
    LoginInput,
    LoginOutput,
    MeOutput,
    RegisterInput,
    RegisterOutput,
)
from accounts.throttling import AuthRateThrottle
from billing.selectors import balance_of
from config.errors import error_responses


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AuthRateThrottle,)

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
                    "token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**data.validated_data)
        body = {
            "message": "User registered successfully.",
            "username": user.username,
            "tokens": balance_of(user=user),
            "token": token.key,
        }
        return Response(RegisterOutput(body).data, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AuthRateThrottle,)

    @extend_schema(
        tags=["accounts"],
        operation_id="login",
        request=LoginInput,
        responses={200: LoginOutput, **error_responses(400, 415, 429)},
        auth=[],
        examples=[
            OpenApiExample(
                "Log in",
                value={"username": "john", "password": "correct-horse-42"},
                request_only=True,
            ),
            OpenApiExample(
                "Logged in",
                value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.user_login(**data.validated_data)
        return Response(LoginOutput({"token": token.key}).data)


class LogoutView(APIView):
    @extend_schema(
        tags=["accounts"],
        operation_id="logout",
        request=None,
        responses={204: None, **error_responses(401)},
    )
    def post(self, request: Request) -> Response:
        services.user_logout(user=cast(User, request.user))
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
