"""Sign-up, sign-in, sign-out."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials

from api import PREFIX
from api.dependencies import Services, bearer_scheme
from api.errors import error_responses
from api.schemas import SessionCreate, SessionOut, UserCreate, UserOut
from shared.accounts.auth import Unauthenticated
from shared.accounts.service import INVALID_TOKEN

metrics = Metrics()
router = APIRouter(prefix=PREFIX, tags=["auth"], responses=error_responses(429, 500))


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    responses=error_responses(400, 409, 422),
    summary="Sign up",
    description="Create an account. Passwords need at least 10 characters.",
)
def create_user(body: UserCreate, services: Services) -> UserOut:
    user = services.accounts.register(body.email, body.password, body.name)
    metrics.add_metric(name="UserRegistered", unit=MetricUnit.Count, value=1)
    return UserOut.model_validate(user)


@router.post(
    "/sessions",
    response_model=SessionOut,
    responses=error_responses(400, 401, 422),
    summary="Sign in",
    description="Exchange email and password for a bearer token.",
)
def create_session(body: SessionCreate, services: Services) -> SessionOut:
    try:
        token, session = services.accounts.sign_in(body.email, body.password)
    except Unauthenticated:
        metrics.add_metric(name="SignInFailed", unit=MetricUnit.Count, value=1)
        raise
    return SessionOut(token=token, expires_at=session.expires_at, user=UserOut.model_validate(session.user))


@router.delete(
    "/sessions",
    status_code=204,
    response_class=Response,
    responses=error_responses(401),
    summary="Sign out",
    description="Revoke the bearer token of this request.",
)
def delete_session(
    services: Services, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Response:
    if credentials is None:
        raise Unauthenticated(INVALID_TOKEN)
    services.accounts.sign_out(credentials.credentials)
    return Response(status_code=204)
