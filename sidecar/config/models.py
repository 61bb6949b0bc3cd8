"""Config objects: what the admin API accepts, what the store holds, what the cache serves.

One set of pydantic models serves all three so a field is declared once. JSON uses camelCase
(the seed's wire format, e.g. ``originUrl``); Python code may use the snake_case names. Validation
is strict: unknown fields and wrong types are errors that name the field, never silent coercions.

The OpenAPI document is generated from these models, so every rule they enforce is one JSON
Schema can state (a pattern, a bound, a type), and nothing is enforced that the schema does not
say: tests/web/test_schema_fuzz.py holds a live service to that. Integers follow JSON's one
number type: ``30.0`` is the integer 30, as JSON Schema's ``integer`` says.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic.alias_generators import to_camel

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
# Free text: no control characters (PostgreSQL cannot store NUL; logs and terminals choke on the rest).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# A display name: free text with at least one visible character.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TEXT_PATTERN)]

# An absolute http(s) URL in printable ASCII: the scheme (lower case), optional user info, a host
# name or a bracketed IPv6 address, an optional port (0-65535) and anything printable after it.
# Python's re and ECMA-262 (what JSON Schema's "pattern" means) read this pattern the same way.
URL_PATTERN = (
    r"^https?://"
    r"(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
    r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(?:[/?#][\x21-\x7e]*)?$"
)
URL_MAX_LENGTH = 2048
_URL_RE = re.compile(URL_PATTERN)


def _http_url(value: str) -> str:
    if len(value) > URL_MAX_LENGTH:
        raise ValueError(f"URL longer than {URL_MAX_LENGTH} characters")
    if not _URL_RE.fullmatch(value):
        raise ValueError(
            "must be an absolute http:// or https:// URL: host name or [IPv6], optional port, printable ASCII "
            "without spaces"
        )
    return value


HttpUrl = Annotated[
    str,
    AfterValidator(_http_url),
    WithJsonSchema(
        {"type": "string", "pattern": URL_PATTERN, "maxLength": URL_MAX_LENGTH},
        mode="validation",
    ),
]


def _integral(value: Any) -> Any:
    """JSON has one number type: 30.0 is the integer 30 (JSON Schema agrees), 30.5 stays an error."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]
# Bounds go before the validator: after it, pydantic writes them into the schema as "gt"/"le".
Seconds = Annotated[int, Field(gt=0, le=10 * 365 * 86400), BeforeValidator(_integral)]
Version = Annotated[int, Field(ge=0), BeforeValidator(_integral)]
Mode = Literal["auto", "ssai", "sgai"]
ChannelStatus = Literal["active", "paused", "archived"]
OrgStatus = Literal["active", "suspended"]
AssetStatus = Literal["active", "archived"]
Role = Literal["viewer", "operator", "editor", "admin", "super-admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "editor", "admin", "super-admin")

Restrict = Annotated[str, StringConstraints(pattern=r"^(SKIP|JUMP)(,(SKIP|JUMP))?$")]
Snap = Annotated[str, StringConstraints(pattern=r"^(OUT|IN)(,(OUT|IN))?$")]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        # Replies always carry every field, defaults included: their schemas say so.
        json_schema_serialization_defaults_required=True,
    )

    def api(self) -> dict[str, Any]:
        """The JSON shape the admin API returns."""
        return self.model_dump(mode="json", by_alias=True)


def _without_default(extra: Any) -> Any:
    """A field's own ``json_schema_extra``, then no ``default``: a partial update has none."""

    def apply(schema: dict[str, Any]) -> None:
        if callable(extra):
            extra(schema)
        elif isinstance(extra, dict):
            schema.update(extra)
        schema.pop("default", None)

    return apply


def partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The body of a partial update (PUT/PATCH): the same fields, each optional. A field left out
    is unchanged; ``null`` clears a field that may be empty and is an error for one that may not,
    exactly as the field's own schema says."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if info.metadata:  # keep each field's constraints
            annotation = Annotated.__class_getitem__((annotation, *info.metadata))  # type: ignore[attr-defined]
        fields[field_name] = (
            annotation,
            Field(
                default=None, description=info.description, json_schema_extra=_without_default(info.json_schema_extra)
            ),
        )
    fields["version"] = (
        Version | None,
        Field(
            default=None,
            description="Expected current version (409 if stale)",
            json_schema_extra=_without_default(None),
        ),
    )
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

    bitrate_bps: JsonInt = Field(gt=0, le=200_000_000)
    playlist_url: HttpUrl


class Tracking(ApiModel):
    impression: list[HttpUrl] = Field(default_factory=list, max_length=20)
    start: list[HttpUrl] = Field(default_factory=list, max_length=20)
    first_quartile: list[HttpUrl] = Field(default_factory=list, max_length=20)
    midpoint: list[HttpUrl] = Field(default_factory=list, max_length=20)
    third_quartile: list[HttpUrl] = Field(default_factory=list, max_length=20)
    complete: list[HttpUrl] = Field(default_factory=list, max_length=20)
    error: list[HttpUrl] = Field(default_factory=list, max_length=20)


def _distinct_variants(variants: list[Variant]) -> list[Variant]:
    """Renditions in bitrate order. Two may share a bitrate (HLS allows it: another codec or
    resolution; a player's variant is matched to the first); the same one twice is a mistake."""
    if len(set(variants)) != len(variants):
        raise ValueError("the same variant is listed twice")
    return sorted(variants, key=lambda v: v.bitrate_bps)


Variants = Annotated[
    list[Variant],
    Field(min_length=1, max_length=20, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_distinct_variants),
]


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
    vast_creative_id: Text | None = None
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
    # The one rule across fields, stated in the schema too (JSON Schema if/then).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"vastEnabled": {"const": True}}, "required": ["vastEnabled"]},
            "then": {"required": ["vastUrl"], "properties": {"vastUrl": {"type": "string"}}},
        }
    )

    slug: Slug
    name: Name
    origin_url: HttpUrl = Field(description="Live HLS master playlist of the channel's origin")
    mode: Mode = "auto"
    status: ChannelStatus = "active"
    scte35_enabled: bool = True
    scte35_auto_insert: bool = True
    schedule_enabled: bool = False
    schedule_interval_minutes: JsonInt = Field(default=5, ge=1, le=1440)
    schedule_break_seconds: JsonInt = Field(default=30, ge=1, le=600)
    vast_enabled: bool = False
    vast_url: HttpUrl | None = None
    vast_timeout_ms: JsonInt = Field(default=2000, ge=50, le=30_000)
    default_ad_duration_seconds: JsonInt = Field(default=30, ge=1, le=600)
    slate_id: Text | None = Field(default=None, max_length=40, description="Id of a slate of this organization")
    ad_pod_id: Text | None = Field(default=None, max_length=40, description="Id of an ad pod of this organization")
    ad_pod_base_url: HttpUrl | None = None
    manifest_cache_max_age_seconds: JsonInt = Field(default=2, ge=0, le=60)
    interstitial_restrict: Restrict | None = None
    interstitial_snap: Snap | None = "OUT,IN"

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
    expires_in_seconds: Seconds | None = None


class Token(ApiModel):
    id: str
    org_id: str
    name: str
    role: Role
    created_at: float
    last_used_at: float | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
