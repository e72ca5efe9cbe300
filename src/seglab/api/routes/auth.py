"""Login, logout and the current user; users (admins); personal API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from seglab.api.deps import SESSION_COOKIE, ActorDep, ServicesDep
from seglab.api.schemas import (
    LoginRequest,
    PasswordChange,
    SessionPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from seglab.service import auth

router = APIRouter()


@router.post("/auth/login", tags=["auth"])
def login(body: LoginRequest, response: Response, services: ServicesDep) -> SessionPublic:
    """Log in with a password; sets the session cookie and returns the CSRF token for writes."""
    settings = services.settings
    value, actor = auth.login(
        services.db,
        services.passwords,
        username=body.username,
        password=body.password,
        hours=settings.session_hours,
    )
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    user = auth.me(services.db, actor=actor)
    return SessionPublic(user=UserPublic.model_validate(user), csrf_token=services.csrf_token(value))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def logout(request: Request, response: Response, actor: ActorDep, services: ServicesDep) -> None:
    """Close this browser session (API tokens are revoked under /api/tokens)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth.logout(services.db, session_value=cookie)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


@router.get("/auth/me", tags=["auth"])
def me(request: Request, actor: ActorDep, services: ServicesDep) -> SessionPublic:
    cookie = request.cookies.get(SESSION_COOKIE)
    bearer = request.headers.get("authorization") is not None
    csrf = services.csrf_token(cookie) if cookie and not bearer else None
    return SessionPublic(user=UserPublic.model_validate(auth.me(services.db, actor=actor)), csrf_token=csrf)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def change_password(body: PasswordChange, actor: ActorDep, services: ServicesDep) -> None:
    """Change your own password; all your sessions are closed (log in again)."""
    auth.change_password(
        services.db,
        services.passwords,
        actor=actor,
        current_password=body.current_password,
        new_password=body.new_password,
    )


@router.get("/users", tags=["users"])
def list_users(
    actor: ActorDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[UserPublic]:
    users = auth.list_users(services.db, actor=actor, limit=limit, offset=offset)
    return [UserPublic.model_validate(u) for u in users]


@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(body: UserCreate, actor: ActorDep, services: ServicesDep) -> UserPublic:
    """Create a user (admins only: registration is closed)."""
    user = auth.create_user(
        services.db,
        services.passwords,
        actor=actor,
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        is_admin=body.is_admin,
    )
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}", tags=["users"])
def get_user(user_id: int, actor: ActorDep, services: ServicesDep) -> UserPublic:
    return UserPublic.model_validate(auth.get_user(services.db, actor=actor, user_id=user_id))


@router.patch("/users/{user_id}", tags=["users"])
def update_user(user_id: int, body: UserUpdate, actor: ActorDep, services: ServicesDep) -> UserPublic:
    user = auth.update_user(
        services.db, services.passwords, actor=actor, user_id=user_id, **body.model_dump(exclude_unset=True)
    )
    return UserPublic.model_validate(user)


@router.get("/tokens", tags=["tokens"])
def list_tokens(actor: ActorDep, services: ServicesDep) -> list[TokenPublic]:
    return [TokenPublic.model_validate(t) for t in auth.list_tokens(services.db, actor=actor)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, tags=["tokens"])
def create_token(body: TokenCreate, actor: ActorDep, services: ServicesDep) -> TokenCreated:
    """A personal API token for scripts; its value is shown only in this response."""
    new = auth.create_token(services.db, actor=actor, name=body.name, expires_days=body.expires_days)
    return TokenCreated(token=TokenPublic.model_validate(new.token), value=new.value)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["tokens"])
def delete_token(token_id: int, actor: ActorDep, services: ServicesDep) -> None:
    auth.delete_token(services.db, actor=actor, token_id=token_id)
