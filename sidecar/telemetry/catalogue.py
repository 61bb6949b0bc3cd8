"""The one metric catalogue.

Every metric the service exports is declared here, once, with its unit in the name and a
bounded label set. Dashboards, alert rules and tests refer to these names; a test fails when a
dashboard panel or rule names a metric that is not declared here.

Label rules: ``org`` and ``channel`` only carry slugs of channels that exist in the store, never
viewer, session, ad or URL values. A request for a channel that does not exist carries no
``org``/``channel`` label at all (the empty value, which Prometheus drops), so no pseudo-channel
ever shows up in a dashboard variable or a ``by (org, channel)`` aggregation.

Lifecycle metrics (actor instance starts, churn, ends and lifetimes, young-instance requests,
process starts) are not per-process counters: they are kept in a durable ledger per worker slot
and exported from it, so they survive the crashes they report (``sidecar.telemetry.ledger``,
ADR 0010).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics

from sidecar import __version__
from sidecar.net.policy import PURPOSES, REASONS
from sidecar.telemetry import hot
from sidecar.telemetry.ledger import LedgerCollector

disable_created_metrics()  # type: ignore[no-untyped-call]

#: org/channel label value of requests that name no existing channel (Prometheus drops it).
NO_CHANNEL = ""

# Latency buckets (seconds). Alert thresholds are bucket bounds, so "share slower than X" is an
# exact bucket ratio: 2 s (config update latency) and 0.15 s (manifest p99) are both here.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0)
SLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# Instance age: 10 s is the seed's "young instance" bound, 600 s its stability target.
AGE_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0)
# Config propagation: 1 s is the seed's KPI, 2 s its alert; Redis pub/sub takes about a millisecond.
PROPAGATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

registry: CollectorRegistry = REGISTRY
# Folds hot-path accumulators into the metrics below; collected first (registration order).
registry.register(hot.FlushOnCollect())

_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, memoised for the hot path (label sets are bounded by design,
    and ``labels()`` validates and locks on every call)."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


build_info = Info("ssai_build", "Version of the running service.", registry=registry)
build_info.info({"version": __version__})

# --- config plane: store, cache, invalidation -------------------------------------------------
config_lookups_total = Counter(
    "ssai_config_lookups_total",
    "Channel config lookups by cache layer (l1 per process, kv shared, db source of truth) and result.",
    ["layer", "result"],
    registry=registry,
)
config_cache_requests_total = Counter(
    "ssai_config_cache_requests_total",
    "Channel config reads; hit means answered without reading the SQL store.",
    ["org", "channel", "result"],
    registry=registry,
)
config_coalesced_total = Counter(
    "ssai_config_coalesced_total",
    "Config cache misses that joined an in-flight read of the same key instead of querying the store.",
    registry=registry,
)
config_cache_writes_total = Counter(
    "ssai_config_cache_writes_total",
    "Version-checked writes into the shared config cache (rejected_stale: an older version lost).",
    ["layer", "result"],
    registry=registry,
)
config_invalidations_total = Counter(
    "ssai_config_invalidations_total",
    "Config cache invalidations by scope (channel or org) and result.",
    ["scope", "result"],
    registry=registry,
)
config_invalidation_seconds = Histogram(
    "ssai_config_invalidation_seconds",
    "Time the writing process takes to tombstone a channel's or org's cache keys and publish the "
    "invalidation (publisher side; ssai_config_propagation_seconds is the receivers' side).",
    ["scope"],
    buckets=FAST_BUCKETS,
    registry=registry,
)
config_propagation_seconds = Histogram(
    "ssai_config_propagation_seconds",
    "Time from a committed admin config write (its timestamp travels in the invalidation message) to "
    "this process having dropped its cached copies, by org. Observed by every process that hears it.",
    ["org"],
    buckets=PROPAGATION_BUCKETS,
    registry=registry,
)
config_invalidated_keys_total = Counter(
    "ssai_config_invalidated_keys_total",
    "Cache keys that held a value when they were invalidated.",
    registry=registry,
)
config_warms_total = Counter(
    "ssai_config_warms_total",
    "Cache warms after an admin write, by result.",
    ["result"],
    registry=registry,
)
bus_messages_total = Counter(
    "ssai_bus_messages_total",
    "Notification bus messages published or received by this process, by topic (config, actor).",
    ["topic", "direction"],
    registry=registry,
)
bus_connected = Gauge(
    "ssai_bus_connected",
    "1 while this process is subscribed to the notification bus (L1 config is only trusted while 1).",
    registry=registry,
)
config_writes_total = Counter(
    "ssai_config_writes_total",
    "Admin writes to channel config (and what it embeds), by object kind and operation.",
    ["kind", "operation"],
    registry=registry,
)
db_query_seconds = Histogram(
    "ssai_db_query_seconds",
    "SQL store statement latency by operation.",
    ["operation"],
    buckets=FAST_BUCKETS,
    registry=registry,
)
redis_errors_total = Counter(
    "ssai_redis_errors_total",
    "Redis operations that failed (the service falls back to the SQL store / in-process paths).",
    ["component"],
    registry=registry,
)

# --- HTTP ----------------------------------------------------------------------------------
admin_requests_total = Counter(
    "ssai_admin_requests_total",
    "Admin API requests by route template, method and status code.",
    ["route", "method", "status"],
    registry=registry,
)
admin_request_seconds = Histogram(
    "ssai_admin_request_seconds",
    "Admin API request latency by route template.",
    ["route"],
    buckets=SLOW_BUCKETS,
    registry=registry,
)
auth_failures_total = Counter(
    "ssai_auth_failures_total",
    "Rejected admin requests by reason (missing, malformed, unknown, revoked, forbidden).",
    ["reason"],
    registry=registry,
)

# --- channel actors ------------------------------------------------------------------------------
actor_instances = Gauge(
    "ssai_actor_instances",
    "Live channel-actor instances in this process.",
    ["colo"],
    registry=registry,
)
# Lifecycle: durable, exported from the slot's ledger (registered below, after its families).
lifecycle = LedgerCollector()
actor_instance_starts_total = lifecycle.counter(
    "ssai_actor_instance_starts_total",
    "Actor instances started, by what the previous instance of the name (in this worker slot) did "
    "(new: none; clean: evicted cleanly; churn: alive within the churn window; stale: silent longer). Durable.",
    ("org", "channel", "reason"),
    per_channel=(("new",), ("clean",), ("churn",), ("stale",)),
)
actor_churn_total = lifecycle.counter(
    "ssai_actor_churn_total",
    "Actor instance churn: a new instance started while the previous one of its name was alive. Durable.",
    ("org", "channel"),
    per_channel=((),),
)
actor_instance_age_seconds = Histogram(
    "ssai_actor_instance_age_seconds",
    "Age of the actor instance serving each request.",
    ["org", "channel"],
    buckets=AGE_BUCKETS,
    registry=registry,
)
actor_young_instance_requests_total = lifecycle.counter(
    "ssai_actor_young_instance_requests_total",
    "Requests served by actor instances younger than the young-instance bound (10 s). Durable, "
    "committed within a second.",
    ("org", "channel"),
    per_channel=((),),
)
actor_evictions_total = lifecycle.counter(
    "ssai_actor_evictions_total",
    "Actor instances ended cleanly, by reason (idle, shutdown, deleted). Durable.",
    ("reason",),
    zero=(("idle",), ("shutdown",), ("deleted",)),
)
actor_lifetime_seconds = lifecycle.histogram(
    "ssai_actor_lifetime_seconds",
    "Lifetime of actor instances at their end, by how they ended (idle, shutdown, deleted; crash: "
    "created to last heartbeat, accounted by the successor). The seed's stability KPI: > 10 min. Durable.",
    ("reason",),
    buckets=AGE_BUCKETS,
    zero=(("idle",), ("shutdown",), ("deleted",), ("crash",)),
)
process_starts_total = lifecycle.counter(
    "ssai_process_starts_total",
    "Starts of this worker slot's process, by how the previous one ended (first: none before; clean: "
    "stopped gracefully; crash: never recorded a stop). Durable.",
    ("reason",),
    zero=(("first",), ("clean",), ("crash",)),
)
registry.register(lifecycle)
actor_state_syncs_total = Counter(
    "ssai_actor_state_syncs_total",
    "Actor instances that learned of a newer durable state, by how (bus message or version check).",
    ["via"],
    registry=registry,
)
actor_heartbeat_writes_total = Counter(
    "ssai_actor_heartbeat_writes_total",
    "Batched heartbeat writes of live actor instances (at most one per heartbeat interval).",
    registry=registry,
)
state_persist_total = Counter(
    "ssai_state_persist_total",
    "Durable ad-state writes by result (confirmed, conflict: lost a compare-and-set and retried, failed).",
    ["result"],
    registry=registry,
)
state_persist_seconds = Histogram(
    "ssai_state_persist_seconds",
    "Latency of confirmed durable ad-state writes.",
    buckets=FAST_BUCKETS,
    registry=registry,
)
cue_requests_total = Counter(
    "ssai_cue_requests_total",
    "Cue API requests by action (start, stop) and result (ok, noop, rejected, error).",
    ["action", "result"],
    registry=registry,
)

# --- manifests, origin, HLS engine ----------------------------------------------------------------
manifest_requests_total = Counter(
    "ssai_manifest_requests_total",
    "Viewer manifest requests by kind (master, media, assets), mode (ssai, sgai, passthrough) and status.",
    ["org", "channel", "kind", "mode", "status"],
    registry=registry,
)
manifest_request_seconds = Histogram(
    "ssai_manifest_request_seconds",
    "Viewer manifest request latency by kind (the availability/latency SLO's source).",
    ["kind"],
    buckets=FAST_BUCKETS,
    registry=registry,
)
origin_fetch_seconds = Histogram(
    "ssai_origin_fetch_seconds",
    "Origin playlist fetch latency by result (ok, error).",
    ["result"],
    buckets=SLOW_BUCKETS,
    registry=registry,
)
origin_errors_total = Counter(
    "ssai_origin_errors_total",
    "Origin playlist failures by reason (timeout, connect, http_4xx, http_5xx, invalid, oversized).",
    ["org", "channel", "reason"],
    registry=registry,
)
origin_truncated_total = Counter(
    "ssai_origin_truncated_playlists_total",
    "Origin playlists that arrived cut mid-line or mid-segment, by kind (master, media) and what was "
    "served instead (cut: the playlist up to its last complete segment; previous: the last complete "
    "playlist, because the cut one ended earlier; rejected: a cut master with no complete one to stand "
    "in, answered 502). Never passed through with a cut URI or tag.",
    ["kind", "served"],
    registry=registry,
)
playlist_render_seconds = Histogram(
    "ssai_playlist_render_seconds",
    "Time to parse, splice and write one variant playlist (done once per origin update and break change).",
    ["mode"],
    buckets=FAST_BUCKETS,
    registry=registry,
)
playlist_validation_failures_total = Counter(
    "ssai_playlist_validation_failures_total",
    "Rendered playlists that broke an HLS rule (msn, dsn, pdt, target_duration, markers); should stay 0.",
    ["rule"],
    registry=registry,
)
scte35_cues_total = Counter(
    "ssai_scte35_cues_total",
    "Ad signals found in origin playlists, by tag dialect, kind (out, in, cont) and validity.",
    ["dialect", "kind", "valid"],
    registry=registry,
)
ad_breaks_started_total = Counter(
    "ssai_ad_breaks_started_total",
    "Ad breaks started, by source (scte35, manual, schedule).",
    ["org", "channel", "source"],
    registry=registry,
)
break_seconds_total = Counter(
    "ssai_break_seconds_total",
    "Seconds of ad breaks planned (the avail duration).",
    ["org", "channel"],
    registry=registry,
)
ad_stitched_seconds_total = Counter(
    "ssai_ad_stitched_seconds_total",
    "Seconds of ads stitched into breaks (excludes slate).",
    ["org", "channel"],
    registry=registry,
)
slate_seconds_total = Counter(
    "ssai_slate_seconds_total",
    "Seconds of slate used to fill breaks.",
    ["org", "channel"],
    registry=registry,
)

# --- ad decisioning and beacons -----------------------------------------------------------------------
ad_decisions_total = Counter(
    "ssai_ad_decisions_total",
    "Ad decisions (one per break) by what filled it (vast, pod, slate, none) and why.",
    ["org", "channel", "source", "reason"],
    registry=registry,
)
ad_decision_seconds = Histogram(
    "ssai_ad_decision_seconds",
    "Time to decide a break's ads, including the VAST chain.",
    buckets=SLOW_BUCKETS,
    registry=registry,
)
vast_requests_total = Counter(
    "ssai_vast_requests_total",
    "VAST ad-server calls by outcome (ok, empty, timeout, http_error, invalid, wrapper_limit, ...).",
    ["outcome"],
    registry=registry,
)
avail_seconds_total = Counter(
    "ssai_avail_seconds_total",
    "Seconds of avails offered for decisioning (MediaTailor's Avail.Duration).",
    ["org", "channel"],
    registry=registry,
)
avail_filled_seconds_total = Counter(
    "ssai_avail_filled_seconds_total",
    "Seconds of avails filled with ads (MediaTailor's Avail.FilledDuration); fill rate = filled / avail.",
    ["org", "channel"],
    registry=registry,
)
beacons_total = Counter(
    "ssai_beacons_total",
    "Server-side tracking beacons by event and result (sent, failed, retried, dropped).",
    ["event", "result"],
    registry=registry,
)
beacon_queue_depth = Gauge(
    "ssai_beacon_queue_depth",
    "Beacons queued and not yet acknowledged.",
    registry=registry,
)
beacon_queue_oldest_age_seconds = Gauge(
    "ssai_beacon_queue_oldest_age_seconds",
    "Age of the oldest unacknowledged beacon.",
    registry=registry,
)

# --- security: tenant-supplied URLs, the audit trail, client errors ----------------------------------
url_denied_total = Counter(
    "ssai_url_denied_total",
    "Tenant-supplied URLs the URL policy refused, by purpose (origin, ad_media, vast, beacon, admin_write) "
    "and reason (loopback, private, metadata, own_listener ...).",
    ["purpose", "reason"],
    registry=registry,
)
audit_events_total = Counter(
    "ssai_audit_events_total",
    "Admin writes recorded in the audit trail (result ok or error); write_failed: the record could not be "
    "stored (it was logged instead).",
    ["result"],
    registry=registry,
)
CLIENT_ERROR_REASONS: tuple[str, ...] = (
    "line_too_long",
    "bad_http_message",
    "bad_http_method",
    "bad_status_line",
    "invalid_header",
    "invalid_url",
    "other",
)
http_client_errors_total = Counter(
    "ssai_http_client_errors_total",
    "Requests rejected before routing because they were not valid HTTP (oversized request line or header, "
    "bad header, bad method ...).",
    ["reason"],
    registry=registry,
)

# --- the probe's own registry (``sidecar probe`` exports these on its /metrics) ---------------------
probe_registry = CollectorRegistry()
probe_config_propagation_seconds = Histogram(
    "ssai_probe_config_propagation_seconds",
    "End-to-end time from an admin config change to every manifest endpoint showing it (KPI 1).",
    ["target"],
    buckets=SLOW_BUCKETS,
    registry=probe_registry,
)
probe_propagation_timeouts_total = Counter(
    "ssai_probe_propagation_timeouts_total",
    "Config changes that a manifest endpoint had not shown when the probe gave up.",
    ["target"],
    registry=probe_registry,
)
probe_manifest_checks_total = Counter(
    "ssai_probe_manifest_checks_total",
    "Manifest validity checks by channel and result (ok, failed).",
    ["channel", "result"],
    registry=probe_registry,
)
probe_manifest_failures_total = Counter(
    "ssai_probe_manifest_failures_total",
    "Manifest validity failures by reason (fetch, parse, msn, dsn, pdt, markers, target_duration).",
    ["channel", "reason"],
    registry=probe_registry,
)


# --- the supervisor's own series (``SIDECAR_WORKERS`` > 1: on the pod's one scrape endpoint) ----------
supervisor_registry = CollectorRegistry()
worker_up = Gauge(
    "ssai_worker_up",
    "1 if the worker process answered this scrape of the pod's endpoint (0: restarting, its series are absent).",
    ["worker"],
    registry=supervisor_registry,
)
worker_restarts_total = Counter(
    "ssai_worker_restarts_total",
    "Worker processes the supervisor started again after they exited (crash, OOM kill, SIGKILL).",
    ["worker"],
    registry=supervisor_registry,
)


def metric_names(reg: CollectorRegistry | None = None) -> set[str]:
    """Every series name the catalogue can export (with _total/_bucket/... suffixes)."""
    names: set[str] = set()
    for r in (reg,) if reg is not None else (registry, probe_registry, supervisor_registry):
        for collector in list(r._collector_to_names):
            names.update(n for n in r._collector_to_names[collector] if n.startswith("ssai_"))
    return names


# --- series that exist from the start ------------------------------------------------------------------
# A labelled counter appears at its first increment, and increase()/rate() cannot see that first
# event. Fixed label combinations are therefore created at zero up front, and a channel's series
# by init_channel() before anything counts on them; counts on series born at run time go through
# "fresh" hot instruments, which show a new series at zero for one collection first.
def _zero(counter: Counter | Histogram, *label_sets: tuple[str, ...]) -> None:
    for labels in label_sets:
        counter.labels(*labels)


_zero(state_persist_total, ("confirmed",), ("conflict",), ("failed",))
_zero(config_invalidations_total, *((s, r) for s in ("channel", "org") for r in ("ok", "error")))
_zero(config_warms_total, ("ok",), ("error",))
_zero(config_lookups_total, *((lay, r) for lay in ("l1", "kv", "db") for r in ("hit", "miss", "error")))
_zero(auth_failures_total, *((r,) for r in ("missing", "malformed", "unknown", "revoked", "expired", "forbidden")))
_zero(cue_requests_total, *((a, r) for a in ("start", "stop") for r in ("ok", "noop", "rejected", "error")))
_zero(
    vast_requests_total,
    *(
        (o,)
        for o in (
            "ok",
            "empty",
            "timeout",
            "http_error",
            "invalid",
            "wrapper_limit",
            "no_ads_after_wrapper",
            "connect_error",
            "denied",
        )
    ),
)
_zero(
    beacons_total,
    *(
        (e, r)
        for e in ("impression", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "error")
        for r in ("sent", "failed", "retried", "dropped")
    ),
)
_zero(
    url_denied_total,
    *(
        (p, r)
        for p in PURPOSES
        if p != "other"
        for r in REASONS
    ),
)
_zero(audit_events_total, ("ok",), ("error",), ("write_failed",))
_zero(http_client_errors_total, *((r,) for r in CLIENT_ERROR_REASONS))
_zero(origin_truncated_total, ("media", "cut"), ("media", "previous"), ("master", "previous"), ("master", "rejected"))
_zero(playlist_validation_failures_total, *((r,) for r in ("msn", "dsn", "pdt", "target_duration", "markers")))
_zero(origin_fetch_seconds, ("ok",), ("error",))
_zero(
    config_writes_total,
    *((k, o) for k in ("org", "channel", "ad_pod", "slate") for o in ("create", "update", "delete")),
)

_channels: set[tuple[str, str]] = set()


def init_channel(org: str, channel: str) -> None:
    """Create a channel's per-channel series at zero: when this process first loads the channel's
    config, and at start-up for every channel its worker slot has served, i.e. before anything
    can count on them."""
    if (org, channel) in _channels:
        return
    _channels.add((org, channel))
    lifecycle.know(org, channel)
    _zero(config_propagation_seconds, (org,))
    _zero(config_cache_requests_total, *((org, channel, r) for r in ("hit", "miss", "coalesced")))
    _zero(ad_breaks_started_total, *((org, channel, s) for s in ("scte35", "manual", "schedule")))
    for counter in (
        break_seconds_total,
        ad_stitched_seconds_total,
        slate_seconds_total,
        avail_seconds_total,
        avail_filled_seconds_total,
    ):
        _zero(counter, (org, channel))
    _zero(
        origin_errors_total,
        *(
            (org, channel, r)
            for r in ("timeout", "connect", "denied", "http_4xx", "http_5xx", "invalid", "oversized", "splice")
        ),
    )
    # Failed manifest requests carry mode "none" (decided after the origin answered); a zero
    # series per kind lets error ratios read 0 rather than "no data" while all is well.
    _zero(manifest_requests_total, *((org, channel, kind, "none", "502") for kind in ("master", "media")))
