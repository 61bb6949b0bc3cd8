"""`sidecar channel`: create, list, show, update and delete channels through the admin API."""

from __future__ import annotations

import json
from typing import Any

import click

from sidecar.admin_client import call, echo_json, json_option, token_option, url_option

#: What `channel list` shows per channel, in order.
LIST_COLUMNS = ("slug", "mode", "status", "originUrl")


def _value(text: str) -> Any:
    """A `--set` value: JSON where it parses (numbers, true/false, null), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fields(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected FIELD=VALUE, got {pair!r}", param_hint="--set")
        out[name.strip()] = _value(value)
    return out


def _show(channel: dict[str, Any]) -> None:
    width = max(len(k) for k in channel)
    for key, value in channel.items():
        shown = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        click.echo(f"{key:<{width}}  {shown}")


set_option = click.option(
    "--set", "pairs", multiple=True, metavar="FIELD=VALUE",
    help="Any channel field by its API name (repeatable), e.g. --set vastEnabled=true --set vastTimeoutMs=1500",
)


@click.group("channel")
def channel() -> None:
    """Channels of the token's organization (admin API at --url, token from --token or SIDECAR_TOKEN)."""


@channel.command("list")
@url_option
@token_option
@json_option
def channel_list(url: str, token: str | None, as_json: bool) -> None:
    """One line per channel: slug, mode, status, origin."""
    channels = call(url, token, "GET", "/admin/channels")["channels"]
    if as_json:
        echo_json(channels)
        return
    if not channels:
        click.echo("no channels (create one with `sidecar channel create`)", err=True)
        return
    rows = [[str(c.get(col, "")) for col in LIST_COLUMNS] for c in channels]
    widths = [max(len(col), *(len(r[i]) for r in rows)) for i, col in enumerate(LIST_COLUMNS)]
    click.echo("  ".join(col.upper().ljust(w) for col, w in zip(LIST_COLUMNS, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@channel.command("show")
@click.argument("ref")
@url_option
@token_option
@json_option
def channel_show(ref: str, url: str, token: str | None, as_json: bool) -> None:
    """Every field of one channel (REF: slug or id)."""
    found = call(url, token, "GET", f"/admin/channels/{ref}")["channel"]
    echo_json(found) if as_json else _show(found)


@channel.command("create")
@click.argument("slug")
@click.option("--origin-url", required=True, help="The origin's live HLS master playlist")
@click.option("--name", default=None, help="Display name (default: the slug)")
@click.option("--mode", type=click.Choice(["ssai", "sgai", "auto"]), default=None, help="Default: auto")
@set_option
@url_option
@token_option
@json_option
def channel_create(
    slug: str, origin_url: str, name: str | None, mode: str | None, pairs: tuple[str, ...], url: str,
    token: str | None, as_json: bool,
) -> None:
    """Create a channel; its config is served (and cached) at once."""
    body: dict[str, Any] = {"slug": slug, "name": name or slug, "originUrl": origin_url, **_fields(pairs)}
    if mode is not None:
        body["mode"] = mode
    created = call(url, token, "POST", "/admin/channels", body)["channel"]
    if as_json:
        echo_json(created)
        return
    click.echo(f"created channel {created['slug']} (id {created['id']}, mode {created['mode']}) "
               f"from {created['originUrl']}")


@channel.command("update")
@click.argument("ref")
@set_option
@url_option
@token_option
@json_option
def channel_update(ref: str, pairs: tuple[str, ...], url: str, token: str | None, as_json: bool) -> None:
    """Change some fields of a channel (REF: slug or id); every process serves the change at once."""
    fields = _fields(pairs)
    if not fields:
        raise click.UsageError("nothing to change: give at least one --set FIELD=VALUE")
    updated = call(url, token, "PUT", f"/admin/channels/{ref}", fields)["channel"]
    if as_json:
        echo_json(updated)
        return
    changed = ", ".join(f"{k}={json.dumps(updated.get(k))}" for k in fields)
    click.echo(f"updated channel {updated['slug']}: {changed}")


@channel.command("delete")
@click.argument("ref")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@url_option
@token_option
def channel_delete(ref: str, yes: bool, url: str, token: str | None) -> None:
    """Delete a channel (REF: slug or id); its manifests answer 404 at once."""
    if not yes:
        click.confirm(f"delete channel {ref}?", abort=True)
    call(url, token, "DELETE", f"/admin/channels/{ref}")
    click.echo(f"deleted channel {ref}")
