"""The OpenAPI document's own properties (the live fuzzing is tests/web/test_schema_fuzz.py)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.config.models import URL_MAX_LENGTH, URL_PATTERN, ChannelPatch, Variant
from sidecar.settings import Settings
from sidecar.web import openapi
from sidecar.web.admin import ROUTES

DOC = openapi.build(Settings())
SCHEMA_KEYWORDS = {
    "$ref", "$defs", "type", "properties", "required", "additionalProperties", "items", "prefixItems",
    "anyOf", "allOf", "oneOf", "not", "if", "then", "else", "enum", "const", "pattern", "format",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
    "maxItems", "uniqueItems", "default", "title", "description",
}  # fmt: skip
URL_SCHEMA = jsonschema_rs.validator_for({"type": "string", "pattern": URL_PATTERN, "maxLength": URL_MAX_LENGTH})


def _schemas(node: Any, keyed_by_name: bool = False) -> list[dict[str, Any]]:
    """Every schema object under ``node`` (property maps and $defs hold schemas by name)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if not keyed_by_name:
            found.append(node)
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found += _schemas(sub)
            elif key in ("items", "not", "if", "then", "else", "additionalProperties") and isinstance(value, dict):
                found += _schemas(value)
            elif key in ("anyOf", "allOf", "oneOf", "prefixItems"):
                for sub in value:
                    found += _schemas(sub)
    return found


def test_schemas_use_json_schema_keywords_only() -> None:
    """A constraint written under a name JSON Schema does not know (pydantic's "gt") is one the
    document does not state."""
    nodes = [s for c in DOC["components"]["schemas"].values() for s in _schemas(c)]
    for path in DOC["paths"].values():
        for op in path.values():
            nodes += [s for p in op["parameters"] for s in _schemas(p["schema"])]
            for response in op["responses"].values():
                nodes += [s for c in response.get("content", {}).values() for s in _schemas(c["schema"])]
    assert len(nodes) > 300
    unknown = {key for node in nodes for key in node} - SCHEMA_KEYWORDS
    assert unknown == set()


def test_creates_link_their_id_to_every_operation_on_the_object() -> None:
    operations = {op["operationId"]: op for path in DOC["paths"].values() for op in path.values()}
    links = {
        (op["operationId"], name): link
        for op in operations.values()
        for response in op["responses"].values()
        for name, link in response.get("links", {}).items()
    }
    assert links[("post_admin_tokens", "delete_admin_tokens_token")]["parameters"] == {
        "token": "$response.body#/token/id"
    }
    for (_, target), link in links.items():
        (param, expression), = link["parameters"].items()
        assert param in {p["name"] for p in operations[target]["parameters"]}
        assert expression.startswith("$response.body#/") and expression.endswith("/id")
    # Every operation on one object is reachable from the create that made it.
    assert {openapi.operation_id(r) for r in ROUTES if r.path.count("{") == 1} <= {t for _, t in links}


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.from_regex(URL_PATTERN, fullmatch=True), st.sampled_from(["http://", "https://"])
                 .flatmap(lambda p: st.text().map(lambda rest: p + rest))))
def test_the_url_rule_and_its_schema_pattern_agree(value: str) -> None:
    """The validator's URL rule is the pattern the document publishes, read by a JSON Schema
    validator of another regex dialect (Rust)."""
    try:
        Variant(bitrate_bps=1, playlist_url=value)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == URL_SCHEMA.is_valid(value)


def test_partial_updates_say_which_fields_may_be_null() -> None:
    properties = ChannelPatch.model_json_schema(by_alias=True)["properties"]
    nullable = {name for name, s in properties.items() if {"type": "null"} in s.get("anyOf", [])}
    assert nullable == {
        "vastUrl", "slateId", "adPodId", "adPodBaseUrl", "interstitialRestrict", "interstitialSnap", "version"
    }  # fmt: skip
    assert all("default" not in s for s in properties.values()), "a partial update has no defaults"


def test_the_cue_duration_bound_follows_the_setting() -> None:
    cue = openapi.build(Settings(max_break_seconds=120))["components"]["schemas"]["CueIn"]
    bounded = cue["then"]["properties"]["duration"]["anyOf"][0]
    assert (bounded["exclusiveMinimum"], bounded["maximum"]) == (0, 120)
    assert cue["if"]["properties"]["action"] == {"const": "start"}
