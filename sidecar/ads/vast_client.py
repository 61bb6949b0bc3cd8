"""Fetch a VAST tag and resolve its wrapper chains, within one deadline, without ever raising.

Why it is shaped like this:

* **One deadline for the whole chain.** The channel's VAST timeout is a budget for "how long may
  a break wait for ads", so every hop (and every parallel branch of a pod) shares one absolute
  deadline. A per-hop timeout would let a 5-wrapper chain take five times the budget.
* **Outcomes, not exceptions.** Remote failure is normal for ad servers. ``fetch_vast`` returns
  a ``VastResult`` whose ``outcome`` is a metric label, so a failed decision is visible instead of
  being papered over with a fallback pod (seed review, weakness 21).
* **Partial fill survives.** In a pod, one wrapper that times out or comes back empty drops
  that ad only; its error URLs are returned for pinging and the other ads are kept.
* **Errors are returned, not fired.** ``error_pings`` go to the beacon pipeline, which retries,
  de-duplicates and counts them; this module performs no side effects besides the tag fetches.
* **Hostile input is bounded**: only http(s) URLs are fetched (no ``file:``), the body is read
  in chunks and abandoned past ``max_bytes`` (a 2 MB or endless body costs at most one chunk
  over the limit), and at most ``max_wrapper_depth`` wrappers are followed per chain. Because
  wrappers may fan out (a pod of wrappers, each allowed to return a pod of wrappers ...), a call
  also looks at no more than ``MAX_ADS_PER_RESPONSE`` ads per document, makes no more than
  ``MAX_FETCHES`` requests in total, and returns at most ``MAX_ERROR_PINGS`` distinct pings, so
  one response cannot turn us into an amplifier against the ad server or its error endpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import aiohttp
from yarl import URL

from sidecar.ads.vast_macros import expand_macros
from sidecar.ads.vast_model import (
    Ad,
    ErrorPing,
    LinearCreative,
    Outcome,
    VastError,
    VastErrorCode,
    VastResponse,
    VastResult,
)
from sidecar.ads.vast_parse import DEFAULT_MAX_BYTES, parse_vast
from sidecar.net.client import denial_of, fetching

DEFAULT_MAX_WRAPPER_DEPTH = 5
MAX_REDIRECTS = 3
MAX_ADS_PER_RESPONSE = 50
MAX_FETCHES = 64
MAX_ERROR_PINGS = 100
_CHUNK = 64 * 1024
_ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.1"


async def fetch_vast(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout_s: float,
    max_wrapper_depth: int = DEFAULT_MAX_WRAPPER_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> VastResult:
    """Request ``url`` and return inline ads with every wrapper resolved and merged.

    ``[CACHEBUSTING]`` and ``[TIMESTAMP]`` in ``url`` and in each wrapper's ``VASTAdTagURI`` are
    expanded per request. Tracking and error URLs in the returned ads are left as templates for
    the beacon sender; ``error_pings`` are already expanded with their ``[ERRORCODE]``.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    resolver = _Resolver(session, started + timeout_s, max_wrapper_depth, max_bytes)
    root = await resolver.fetch(url)
    elapsed = loop.time() - started
    if isinstance(root, _Failure):
        return _failed(root, [], 0, elapsed)
    response, status = root
    if not response.ads:
        pings = _expand_pings([(VastErrorCode.NO_ADS_AFTER_WRAPPER, u) for u in response.errors])
        return VastResult("empty", [], 0, elapsed, pings, None, "no ads in response", status, response.version or None)

    ads = response.ads[:MAX_ADS_PER_RESPONSE]
    merged = _Branch.join(await asyncio.gather(*(resolver.resolve(ad, ()) for ad in ads)))
    elapsed = loop.time() - started
    pings = _expand_pings(merged.pings)
    if merged.ads:
        return VastResult("ok", merged.ads, merged.depth, elapsed, pings, None, "", status, response.version)
    failure = merged.failure or _Failure("invalid", VastErrorCode.UNDEFINED, "no ad resolved")
    return _failed(failure, pings, merged.depth, elapsed, response.version)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why one fetch or one wrapper chain produced no ad."""

    outcome: Outcome
    code: int
    reason: str
    http_status: int | None = None


@dataclass(slots=True)
class _Branch:
    """What resolving one ``<Ad>`` produced: ads, or the failure, plus pings either way.

    ``pings`` are (code, URL template) pairs; they are de-duplicated and expanded once, at the
    end, so sibling branches failing under one wrapper report its error URL once per code.
    """

    ads: list[Ad] = field(default_factory=list)
    pings: list[tuple[int, str]] = field(default_factory=list)
    failure: _Failure | None = None
    depth: int = 0

    @staticmethod
    def join(branches: Sequence[_Branch]) -> _Branch:
        """Combine sibling branches: keep all ads; the first failure decides when none filled."""
        out = _Branch()
        for branch in branches:
            out.ads.extend(branch.ads)
            out.pings.extend(branch.pings)
            out.depth = max(out.depth, branch.depth)
            if out.failure is None:
                out.failure = branch.failure
        return out


@dataclass(frozen=True, slots=True)
class _Hop:
    """A wrapper that was followed, with the tag URL actually requested for it."""

    ad: Ad
    requested_url: str


class _Resolver:
    def __init__(self, session: aiohttp.ClientSession, deadline: float, max_depth: int, max_bytes: int) -> None:
        self._session = session
        self._deadline = deadline
        self._max_depth = max_depth
        self._max_bytes = max_bytes
        self._fetches = 0

    async def resolve(self, ad: Ad, chain: tuple[_Hop, ...]) -> _Branch:
        """Resolve one ad found below ``chain`` (outermost wrapper first) into inline ads."""
        depth = len(chain)
        if ad.kind == "inline":
            return _Branch(ads=[_merge(ad, chain)], depth=depth)
        error_urls = [*_chain_errors(chain), *ad.error_urls]
        if chain and not chain[-1].ad.follow_additional_wrappers:
            return _chain_failed(
                _Failure(
                    "wrapper_limit",
                    VastErrorCode.WRAPPER_LIMIT,
                    "wrapper returned another wrapper but followAdditionalWrappers is false",
                ),
                error_urls,
                depth,
            )
        if depth + 1 > self._max_depth:
            return _chain_failed(
                _Failure(
                    "wrapper_limit",
                    VastErrorCode.WRAPPER_LIMIT,
                    f"more than {self._max_depth} wrappers without an inline ad",
                ),
                error_urls,
                depth,
            )
        if self._fetches >= MAX_FETCHES:
            return _chain_failed(
                _Failure(
                    "wrapper_limit",
                    VastErrorCode.WRAPPER_LIMIT,
                    f"more than {MAX_FETCHES} VAST requests for one decision",
                ),
                error_urls,
                depth,
            )
        if not ad.wrapper_uri:
            return _chain_failed(
                _Failure("invalid", VastErrorCode.WRAPPER_ERROR, "wrapper has no VASTAdTagURI"),
                error_urls,
                depth,
            )
        requested = expand_macros(ad.wrapper_uri)
        fetched = await self.fetch(requested, expanded=True)
        depth += 1
        if isinstance(fetched, _Failure):
            return _chain_failed(fetched, error_urls, depth)
        response, _ = fetched
        if not response.ads:
            return _chain_failed(
                _Failure("no_ads_after_wrapper", VastErrorCode.NO_ADS_AFTER_WRAPPER, "wrapped response has no ads"),
                [*error_urls, *response.errors],
                depth,
            )
        hops = (*chain, _Hop(ad, requested))
        if all(h.ad.allow_multiple_ads for h in hops):
            wanted = response.ads[:MAX_ADS_PER_RESPONSE]
        else:
            wanted = [_single(response.ads)]
        branches = await asyncio.gather(*(self.resolve(child, hops) for child in wanted))
        result = _Branch.join(branches)
        result.depth = max(result.depth, depth)
        return result

    async def fetch(self, url: str, *, expanded: bool = False) -> tuple[VastResponse, int] | _Failure:
        """GET and parse one VAST document before the shared deadline."""
        target = url if expanded else expand_macros(url)
        self._fetches += 1
        try:
            parsed = URL(target)
        except (ValueError, TypeError):
            return _Failure("invalid", VastErrorCode.WRAPPER_ERROR, "unparseable URL")
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return _Failure("invalid", VastErrorCode.WRAPPER_ERROR, f"refusing non-http(s) URL ({parsed.scheme}:)")
        try:
            async with asyncio.timeout_at(self._deadline):
                with fetching("vast"):
                    return await self._get(parsed)
        except TimeoutError:
            return _Failure("timeout", VastErrorCode.WRAPPER_TIMEOUT, "VAST deadline exceeded")
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            return _Failure("invalid", VastErrorCode.WRAPPER_ERROR, f"bad URL or redirect: {type(exc).__name__}")
        except aiohttp.ClientConnectionError as exc:
            denial = denial_of(exc)
            if denial is not None:
                return _Failure("denied", VastErrorCode.WRAPPER_TIMEOUT, f"the URL policy denies {denial}")
            return _Failure("connect_error", VastErrorCode.WRAPPER_TIMEOUT, f"connection failed: {exc}")
        except aiohttp.ClientError as exc:
            return _Failure("http_error", VastErrorCode.WRAPPER_TIMEOUT, f"HTTP client error: {type(exc).__name__}")

    async def _get(self, url: URL) -> tuple[VastResponse, int] | _Failure:
        async with self._session.get(
            url, headers={"Accept": _ACCEPT}, allow_redirects=True, max_redirects=MAX_REDIRECTS
        ) as resp:
            status = resp.status
            if status == 204:
                return VastResponse(version="", ads=[], errors=[]), status
            if not 200 <= status < 300:
                return _Failure("http_error", VastErrorCode.WRAPPER_TIMEOUT, f"HTTP {status}", status)
            try:
                body = await _read_limited(resp, self._max_bytes)
                if not body.strip():
                    # A bare 200 with no body is how many ad servers say "no fill"; treating it
                    # as invalid would page people for normal behaviour.
                    return VastResponse(version="", ads=[], errors=[]), status
                return parse_vast(body, max_bytes=self._max_bytes), status
            except VastError as exc:
                return _Failure("invalid", exc.code, exc.reason, status)


async def _read_limited(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read at most ``max_bytes``; the declared length is checked first, then the stream."""
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise VastError(VastErrorCode.XML_PARSE, f"response declares {declared} bytes, limit is {max_bytes}")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise VastError(VastErrorCode.XML_PARSE, f"response exceeds {max_bytes} bytes")
    return bytes(body)


def _single(ads: list[Ad]) -> Ad:
    """The ad a wrapper with ``allowMultipleAds=false`` may use.

    The spec says "the first stand-alone ad". Many servers mark a lone ad ``sequence="1"``,
    so when there is no stand-alone ad we take the first ad rather than drop the fill.
    """
    return next((ad for ad in ads if ad.sequence is None), ads[0])


def _merge(inline: Ad, chain: tuple[_Hop, ...]) -> Ad:
    """Fold every wrapper's impressions, errors and tracking into the inline ad (VAST §2.3.2)."""
    if not chain:
        return inline
    wrappers = [hop.ad for hop in chain]
    wrapper_linears = [c for w in wrappers for c in w.creatives]
    creatives = [_merge_creative(c, wrapper_linears) for c in inline.creatives]
    outer_sequence = wrappers[0].sequence
    return replace(
        inline,
        sequence=outer_sequence if outer_sequence is not None else inline.sequence,
        impressions=[*(u for w in wrappers for u in w.impressions), *inline.impressions],
        error_urls=[*_chain_errors(chain), *inline.error_urls],
        creatives=creatives,
        wrapper_chain=[hop.requested_url for hop in chain],
    )


def _merge_creative(creative: LinearCreative, wrapper_linears: list[LinearCreative]) -> LinearCreative:
    tracking: dict[str, list[str]] = {}
    for source in (*wrapper_linears, creative):
        for event, urls in source.tracking.items():
            tracking.setdefault(event, []).extend(urls)
    clicks = [u for w in wrapper_linears for u in w.click_tracking] + creative.click_tracking
    return replace(creative, tracking=tracking, click_tracking=clicks)


def _chain_errors(chain: tuple[_Hop, ...]) -> list[str]:
    return [u for hop in chain for u in hop.ad.error_urls]


def _expand_pings(pairs: list[tuple[int, str]]) -> list[ErrorPing]:
    unique = list(dict.fromkeys((int(code), url) for code, url in pairs))[:MAX_ERROR_PINGS]
    return [ErrorPing(code, expand_macros(url, error_code=code)) for code, url in unique]


def _chain_failed(failure: _Failure, error_urls: list[str], depth: int) -> _Branch:
    return _Branch(pings=[(failure.code, u) for u in error_urls], failure=failure, depth=depth)


def _failed(
    failure: _Failure, pings: list[ErrorPing], depth: int, elapsed: float, version: str | None = None
) -> VastResult:
    return VastResult(
        failure.outcome,
        [],
        depth,
        elapsed,
        pings,
        int(failure.code),
        failure.reason,
        failure.http_status,
        version,
    )
