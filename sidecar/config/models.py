"""Config objects: what the admin API accepts, what the store holds, what the cache serves.

One set of pydantic models serves all three so a field is declared once. JSON uses camelCase
(the seed's wire format, e.g. ``originUrl``); snake_case is accepted too. Validation is strict:
unknown fields and wrong types are errors that name the field, never silent coercions.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)
from pydantic.alias_generators import to_camel

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


def _http_url(value: str) -> str:
    if len(value) > 2048:
        raise ValueError("URL longer than 2048 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Mode = Literal["auto", "ssai", "sgai"]
ChannelStatus = Literal["active", "paused", "archived"]
OrgStatus = Literal["active", "suspended"]
AssetStatus = Literal["active", "archived"]
Role = Literal["viewer", "operator", "editor", "admin", "super-admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "editor", "admin", "super-admin")

_RESTRICT = re.compile(r"^(SKIP|JUMP)(,(SKIP|JUMP))?$")
_SNAP = re.compile(r"^(OUT|IN)(,(OUT|IN))?$")


def _restrict(value: str | None) -> str | None:
    if value is not None and not _RESTRICT.match(value):
        raise ValueError("must be SKIP, JUMP or SKIP,JUMP")
    return value


def _snap(value: str | None) -> str | None:
    if value is not None and not _SNAP.match(value):
        raise ValueError("must be OUT, IN or OUT,IN")
    return value


class ApiModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )

    def api(self) -> dict[str, Any]:
        """The JSON shape the admin API returns."""
        return self.model_dump(mode="json", by_alias=True)


def partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The same fields, every one optional: the body of a partial update (PUT/PATCH)."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        # Keep each field's constraints (metadata); None means "leave unchanged".
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated.__class_getitem__((annotation, *info.metadata))  # type: ignore[attr-defined]
        fields[field_name] = (annotation | None, Field(default=None, description=info.description))
    fields["version"] = (int | None, Field(default=None, description="Expected current version (409 if stale)"))
    return create_model(name, __base__=ApiModel, **fields)


# --- organizations ----------------------------------------------------------------------------
class OrgIn(ApiModel):
    slug: Slug
    name: Name
    status: OrgStatus = "active"


class Org(OrgIn):
    id: str
    version: int
    created_at: float
    updated_at: float


OrgPatch = partial(OrgIn, "OrgPatch")


# --- ad pods and slates -------------------------------------------------------------------------
class Variant(ApiModel):
    """One rendition of an ad or slate, pre-transcoded, as an HLS media playlist."""

    bitrate_bps: int = Field(gt=0, le=200_000_000)
    playlist_url: HttpUrl


class Tracking(ApiModel):
    impression: list[HttpUrl] = Field(default_factory=list, max_length=20)
    start: list[HttpUrl] = Field(default_factory=list, max_length=20)
    first_quartile: list[HttpUrl] = Field(default_factory=list, max_length=20)
    midpoint: list[HttpUrl] = Field(default_factory=list, max_length=20)
    third_quartile: list[HttpUrl] = Field(default_factory=list, max_length=20)
    complete: list[HttpUrl] = Field(default_factory=list, max_length=20)
    error: list[HttpUrl] = Field(default_factory=list, max_length=20)


def _unique_bitrates(variants: list[Variant]) -> list[Variant]:
    seen = [v.bitrate_bps for v in variants]
    if len(set(seen)) != len(seen):
        raise ValueError("two variants with the same bitrateBps")
    return sorted(variants, key=lambda v: v.bitrate_bps)


Variants = Annotated[list[Variant], Field(min_length=1, max_length=20), AfterValidator(_unique_bitrates)]


class SlateIn(ApiModel):
    slug: Slug
    name: Name
    duration_seconds: float = Field(gt=0, le=600)
    variants: Variants
    status: AssetStatus = "active"


class Slate(SlateIn):
    id: str
    org_id: str
    version: int
    created_at: float
    updated_at: float


SlatePatch = partial(SlateIn, "SlatePatch")


class AdPodIn(ApiModel):
    slug: Slug
    name: Name
    duration_seconds: float = Field(gt=0, le=600)
    variants: Variants
    tracking: Tracking = Field(default_factory=Tracking)
    vast_creative_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    status: AssetStatus = "active"


class AdPod(AdPodIn):
    id: str
    org_id: str
    version: int
    created_at: float
    updated_at: float


AdPodPatch = partial(AdPodIn, "AdPodPatch")


# --- channels -----------------------------------------------------------------------------------
class ChannelIn(ApiModel):
    slug: Slug
    name: Name
    origin_url: HttpUrl = Field(description="Live HLS master playlist of the channel's origin")
    mode: Mode = "auto"
    status: ChannelStatus = "active"
    scte35_enabled: bool = True
    scte35_auto_insert: bool = True
    schedule_enabled: bool = False
    schedule_interval_minutes: int = Field(default=5, ge=1, le=1440)
    schedule_break_seconds: int = Field(default=30, ge=1, le=600)
    vast_enabled: bool = False
    vast_url: HttpUrl | None = None
    vast_timeout_ms: int = Field(default=2000, ge=50, le=30_000)
    default_ad_duration_seconds: int = Field(default=30, ge=1, le=600)
    slate_id: str | None = Field(default=None, max_length=40)
    ad_pod_id: str | None = Field(default=None, max_length=40)
    ad_pod_base_url: HttpUrl | None = None
    manifest_cache_max_age_seconds: int = Field(default=2, ge=0, le=60)
    interstitial_restrict: Annotated[str | None, AfterValidator(_restrict)] = None
    interstitial_snap: Annotated[str | None, AfterValidator(_snap)] = "OUT,IN"

    @model_validator(mode="after")
    def _vast_needs_url(self) -> ChannelIn:
        if self.vast_enabled and not self.vast_url:
            raise ValueError("vastUrl: required when vastEnabled is true")
        return self


class Channel(ChannelIn):
    id: str
    org_id: str
    version: int
    created_at: float
    updated_at: float


ChannelPatch = partial(ChannelIn, "ChannelPatch")

CHANNEL_FIELDS: tuple[str, ...] = tuple(ChannelIn.model_fields)


class ChannelConfig(Channel):
    """What the manifest path needs about one channel: the row plus what it embeds.

    Cached as a unit under ``channel:{org}:{channel}`` and ``channel:id:{id}``; ``version``
    rises on every write to the channel or to anything embedded here.
    """

    model_config = ConfigDict(strict=False)

    org_slug: str
    org_status: OrgStatus
    slate: Slate | None = None
    ad_pod: AdPod | None = None


# --- tokens ---------------------------------------------------------------------------------------
class TokenIn(ApiModel):
    name: Name = "api"
    role: Role = "editor"
    expires_in_seconds: int | None = Field(default=None, gt=0, le=10 * 365 * 86400)


class Token(ApiModel):
    id: str
    org_id: str
    name: str
    role: Role
    created_at: float
    last_used_at: float | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
