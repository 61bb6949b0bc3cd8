"""Scenarios for the offset-scrape promtool tests (rendered by ``alerts/offset.py``).

Each scenario is a timeline in seconds (``minutes(21)``); the expectations are worked out by
hand from the scrape timing and written next to them. With the default 15 s scrape, samples
sit at 7.5 s, 22.5 s, ... and evaluations at 0 s, 15 s, ...: an event at time T is first
sampled at the next 7.5 + 15k >= T and first evaluated at the 15 s tick after that, and an
alert with ``for: F`` fires F later.
"""

from __future__ import annotations

from alerts.offset import (
    Expect,
    ExprCheck,
    Firing,
    OffsetFile,
    Scenario,
    Series,
    Value,
    const,
    events,
    minutes,
    piecewise,
    ramp,
    total,
)

SVC = 'job="sidecar"'
PROBE = 'job="sidecar-probe"'
CHURN_NOTE = "Search the logs for instance_churn."
YOUNG_NOTE = "Search the logs for young_instance."


def _churn(org_channel: str, value: int) -> Firing:
    org, channel = org_channel.split("/")
    return Firing(
        {"severity": "warning", "org": org, "channel": channel},
        f"{org_channel}: {value} actor instance churns in the last hour (threshold 1/h). {CHURN_NOTE}",
    )


def _young(org_channel: str, value: int) -> Firing:
    org, channel = org_channel.split("/")
    return Firing(
        {"severity": "warning", "org": org, "channel": channel},
        f"{org_channel}: {value} requests in the last hour were served by a young actor instance "
        f"(threshold 10/h). {YOUNG_NOTE}",
    )


def _crash_loop(instance: str, value: int) -> Firing:
    return Firing(
        {"severity": "warning", "job": "sidecar", "instance": instance},
        f"{instance} restarted {value} times in the last hour after its previous run ended without a clean stop "
        "(threshold 2/h): killed, out of memory, or crashing. Search the logs for process_crash_detected.",
    )


# --- lifecycle: churn, young instances, crash loops ---------------------------------------------------
# A churn is counted (durably) when the crashed worker's successor creates the channel's actor,
# right after the restart; the successor is back on its scrape target 20 s after the kill.
RESTART_GAP = 20.0

THRESHOLDS = Scenario(
    "churn and young-instance thresholds on whole counts: exactly 1 and 10 per hour stay quiet, 2 and 11 fire",
    until=minutes(90),
    series=(
        # o/one: one churn at minute 20; o/two: a second one at minute 21
        Series(f'ssai_actor_churn_total{{{SVC},instance="w0",org="o",channel="one"}}', events([minutes(20)])),
        Series(
            f'ssai_actor_churn_total{{{SVC},instance="w0",org="o",channel="two"}}',
            events([minutes(20), minutes(21)]),
        ),
        # ten and eleven young-instance requests in one burst at minute 5
        Series(
            f'ssai_actor_young_instance_requests_total{{{SVC},instance="w0",org="o",channel="ten"}}',
            events([minutes(5)], amount=10),
        ),
        Series(
            f'ssai_actor_young_instance_requests_total{{{SVC},instance="w0",org="o",channel="eleven"}}',
            events([minutes(5)], amount=11),
        ),
    ),
    exprs=(
        # one churn: the raw increase is extrapolated to the window's end (1 x 3592.5 / 3585), so
        # "> 1" on it would fire on exactly one; the recorded, rounded count is 1
        ExprCheck(
            'increase(ssai_actor_churn_total{channel="one"}[1h]) > bool 1',
            minutes(70),
            {'{job="sidecar",instance="w0",org="o",channel="one"}': 1},
        ),
        ExprCheck(
            "org_channel:ssai_actor_churn:increase1h",
            minutes(70),
            {
                'org_channel:ssai_actor_churn:increase1h{org="o",channel="one"}': 1,
                'org_channel:ssai_actor_churn:increase1h{org="o",channel="two"}': 2,
            },
        ),
    ),
    expect=(
        # the second churn (1260 s) is sampled at 1267.5 s, evaluated at 1275 s: fires 10 m later
        Expect(minutes(31), "SidecarActorChurnHigh"),
        Expect(minutes(31.25), "SidecarActorChurnHigh", (_churn("o/two", 2),)),
        Expect(minutes(60), "SidecarActorChurnHigh", (_churn("o/two", 2),)),
        # the first churn leaves the window once the first sample in it (T - 3592.5) follows it
        Expect(minutes(79.75), "SidecarActorChurnHigh", (_churn("o/two", 2),)),
        Expect(minutes(80), "SidecarActorChurnHigh"),
        # burst at 300 s: sampled 307.5 s, evaluated 315 s, fires at 915 s
        Expect(minutes(15), "SidecarYoungInstanceRequestsHigh"),
        Expect(minutes(15.25), "SidecarYoungInstanceRequestsHigh", (_young("o/eleven", 11),)),
        Expect(minutes(50), "SidecarYoungInstanceRequestsHigh", (_young("o/eleven", 11),)),
    ),
)

# Worker w1 is SIGKILLed every 10 minutes for 2 hours (minutes 10, 20, ..., 120): each kill is
# one churn of o/loop (its successor recreates the actor) and one crash start of the process.
# Worker w0 is killed twice (minutes 10 and 15): two crash starts stay below the threshold.
KILLS = [minutes(10 * k) for k in range(1, 13)]
W0_KILLS = [minutes(10), minutes(15)]


def _restarting(selector: str, kills: list[float]) -> Series:
    return Series(
        selector,
        events([k + RESTART_GAP for k in kills]),
        down=tuple((k, k + RESTART_GAP) for k in kills),
    )


CRASH_LOOP = Scenario(
    "a 2-hour crash loop (a kill every 10 minutes) alerts for its whole duration; two crashes do not",
    until=minutes(185),
    series=(
        _restarting(f'ssai_actor_churn_total{{{SVC},instance="w1",org="o",channel="loop"}}', KILLS),
        _restarting(f'ssai_process_starts_total{{{SVC},instance="w1",reason="crash"}}', KILLS),
        _restarting(f'ssai_process_starts_total{{{SVC},instance="w0",reason="crash"}}', W0_KILLS),
    ),
    expect=(
        # second churn at 1220 s, sampled 1222.5 s, evaluated 1230 s: fires at 1830 s, by when the
        # third (1820 s) has been sampled too (1822.5 s)
        Expect(minutes(30.25), "SidecarActorChurnHigh"),
        Expect(minutes(30.5), "SidecarActorChurnHigh", (_churn("o/loop", 3),)),
        Expect(minutes(60), "SidecarActorChurnHigh", (_churn("o/loop", 5),)),
        Expect(minutes(95), "SidecarActorChurnHigh", (_churn("o/loop", 6),)),
        Expect(minutes(125), "SidecarActorChurnHigh", (_churn("o/loop", 6),)),
        Expect(minutes(155), "SidecarActorChurnHigh", (_churn("o/loop", 3),)),
        # after the loop: the last two churns (6620 s, 7220 s) keep it firing until the last
        # sample before 6620 s (6592.5 s; 6607.5 s fell in the restart gap) leaves the hour
        Expect(minutes(169.75), "SidecarActorChurnHigh", (_churn("o/loop", 2),)),
        Expect(minutes(170), "SidecarActorChurnHigh"),
        # third crash start of w1 at 1820 s (sampled 1822.5 s, evaluated 1830 s): fires 5 m later;
        # w0's two crashes never do
        Expect(minutes(35.25), "SidecarProcessCrashLooping"),
        Expect(minutes(35.5), "SidecarProcessCrashLooping", (_crash_loop("w1", 3),)),
        Expect(minutes(105), "SidecarProcessCrashLooping", (_crash_loop("w1", 6),)),
        # the third-to-last start (6020 s) leaves with the last sample before it (5992.5 s)
        Expect(minutes(159.75), "SidecarProcessCrashLooping", (_crash_loop("w1", 3),)),
        Expect(minutes(160), "SidecarProcessCrashLooping"),
    ),
)

# Series that appear after a restart: the channel o/late is first served by w1's successor after
# a kill at minute 40; its series are born at zero (the ledger shows a new series at zero
# first) and then count. w2's young-instance count continues across its restart at minute 30:
# 3 young requests when it started, 12 right after the restart (15 in the hour), and for o/nine
# 3 + 7 = 10 (quiet).
BORN_AFTER_RESTART = Scenario(
    "series born after a restart, and totals that continue across one",
    until=minutes(75),
    series=(
        Series(
            f'ssai_actor_churn_total{{{SVC},instance="w1",org="o",channel="late"}}',
            events([minutes(45), minutes(47)]),
            born=minutes(40) + RESTART_GAP,
        ),
        Series(
            f'ssai_actor_young_instance_requests_total{{{SVC},instance="w2",org="o",channel="again"}}',
            total(events([minutes(1)], amount=3), events([minutes(30) + RESTART_GAP], amount=12)),
            down=((minutes(30), minutes(30) + RESTART_GAP),),
        ),
        Series(
            f'ssai_actor_young_instance_requests_total{{{SVC},instance="w2",org="o",channel="nine"}}',
            total(events([minutes(1)], amount=3), events([minutes(30) + RESTART_GAP], amount=7)),
            down=((minutes(30), minutes(30) + RESTART_GAP),),
        ),
    ),
    expect=(
        # second churn at 2820 s: sampled 2827.5 s, evaluated 2835 s, fires at 3435 s
        Expect(minutes(57), "SidecarActorChurnHigh"),
        Expect(minutes(57.25), "SidecarActorChurnHigh", (_churn("o/late", 2),)),
        # the young burst after the restart (1820 s) is sampled 1822.5 s: fires at 2430 s
        Expect(minutes(40.25), "SidecarYoungInstanceRequestsHigh"),
        Expect(minutes(40.5), "SidecarYoungInstanceRequestsHigh", (_young("o/again", 15),)),
    ),
)

LIFECYCLE = OffsetFile(
    "offset-lifecycle-test.yaml",
    "Churn, young instances and crash loops with real scrape timing (ADR 0010).",
    (THRESHOLDS, CRASH_LOOP, BORN_AFTER_RESTART),
)


# --- config propagation: one slow change is an outlier, two are a trend -----------------------------
# One config change every 15 s (at 3 s past each quarter-minute), each propagating in under a
# second; slow ones (3 s) at 20m3s, and for the "two" series again at 21m3s. A 15-minute window
# at an evaluation T holds 59 fast changes between its samples, so with two slow ones
# p99 = 2 + 3 * (0.99 * 61 - 59) / 2 = 4.085 s, and with the per-process view of two processes
# 2 + 3 * (0.99 * 122 - 118) / 4 = 4.085 s as well.
FAST = [3.0 + 15 * k for k in range(int(minutes(45) / 15))]
SLOW_ONE = [minutes(20) + 3]
SLOW_TWO = [minutes(20) + 3, minutes(21) + 3]


def _latency(selector: str, slow: list[float]) -> tuple[Series, ...]:
    """Histogram buckets of changes that took 0.5 s (FAST) or 3 s (``slow``)."""
    fast = events(FAST)
    every = events([*FAST, *slow])
    return tuple(
        Series(selector.replace("LE", le), fast if float(le) <= 2 else every) for le in ("1.0", "2.0", "5.0", "+Inf")
    )


def _probe_slow(target: str) -> Firing:
    return Firing(
        {"severity": "warning", "job": "sidecar-probe", "target": target},
        f"p99 config propagation to {target} is 4.085s over 15 minutes (threshold 2s, target 1s), measured end to "
        "end by the probe. Check that writes invalidate the cache.",
    )


def _service_slow(org: str) -> Firing:
    return Firing(
        {"severity": "warning", "org": org},
        f"Org {org}: p99 of the time from a committed config write to each process dropping its cached copy is "
        "4.085s over 15 minutes (threshold 2s, target 1s). Search the logs for config_propagation_slow.",
    )


PROPAGATION_LATENCY = Scenario(
    "config update latency: one slow change among ~60 in 15 minutes is an outlier, two alert",
    until=minutes(45),
    series=(
        *_latency(f'ssai_probe_config_propagation_seconds_bucket{{{PROBE},target="one",le="LE"}}', SLOW_ONE),
        *_latency(f'ssai_probe_config_propagation_seconds_bucket{{{PROBE},target="two",le="LE"}}', SLOW_TWO),
        # the service's own measurement: every process observes every change
        *(
            series
            for instance in ("w0", "w1")
            for org, slow in (("one", SLOW_ONE), ("two", SLOW_TWO))
            for series in _latency(
                f'ssai_config_propagation_seconds_bucket{{{SVC},instance="{instance}",org="{org}",le="LE"}}', slow
            )
        ),
    ),
    expect=(
        # the second slow change (1263 s) is sampled 1267.5 s, evaluated 1275 s: fires at 1875 s
        Expect(minutes(31), "SidecarConfigUpdateLatencyHigh"),
        Expect(minutes(31.25), "SidecarConfigUpdateLatencyHigh", (_probe_slow("two"),)),
        Expect(minutes(31), "SidecarConfigPropagationSlow"),
        Expect(minutes(31.25), "SidecarConfigPropagationSlow", (_service_slow("two"),)),
        # the first slow one leaves the 15 minutes with the sample before it (1192.5 s) at 2100 s
        Expect(minutes(34.75), "SidecarConfigPropagationSlow", (_service_slow("two"),)),
        Expect(minutes(35), "SidecarConfigPropagationSlow"),
        Expect(minutes(35), "SidecarConfigUpdateLatencyHigh"),
    ),
)

# --- counts that should stay at zero (or one) ---------------------------------------------------------
TIMEOUTS = Scenario(
    "propagation timeouts: exactly one in 15 minutes stays quiet, two page",
    until=minutes(30),
    series=(
        Series(f'ssai_probe_propagation_timeouts_total{{{PROBE},target="one"}}', events([minutes(10)])),
        Series(f'ssai_probe_propagation_timeouts_total{{{PROBE},target="two"}}', events([minutes(10), minutes(11)])),
    ),
    expect=(
        # second timeout at 660 s, sampled 667.5 s, evaluated 675 s: fires at 975 s
        Expect(minutes(16), "SidecarConfigPropagationTimeouts"),
        Expect(
            minutes(16.25),
            "SidecarConfigPropagationTimeouts",
            (
                Firing(
                    {"severity": "critical", "job": "sidecar-probe", "target": "two"},
                    "2 probe config changes in the last 15 minutes never showed up on two: viewers are served stale "
                    "channel config.",
                ),
            ),
        ),
    ),
)

# w1 fails one durable write at minute 10 and is restarted at minute 12 (its in-memory counters
# start again at 0): the failure still counts; w0 only has compare-and-set conflicts (retries).
ZERO_COUNTS = Scenario(
    "counts that should stay zero: one event files a ticket, also across a restart of its process",
    until=minutes(30),
    series=(
        Series(
            f'ssai_state_persist_total{{{SVC},instance="w1",result="failed"}}',
            piecewise((0, events([minutes(10)])), (minutes(12) + 20, const(0))),
            down=((minutes(12), minutes(12) + 20),),
        ),
        Series(f'ssai_state_persist_total{{{SVC},instance="w0",result="conflict"}}', ramp(0.2)),
        Series(f'ssai_state_persist_total{{{SVC},instance="w0",result="failed"}}', const(0)),
        Series(
            f'ssai_config_invalidations_total{{{SVC},instance="w0",scope="channel",result="error"}}',
            events([minutes(10)]),
        ),
        Series(f'ssai_config_invalidations_total{{{SVC},instance="w0",scope="org",result="error"}}', const(0)),
        Series(f'ssai_bus_connected{{{SVC},instance="w0"}}', piecewise((0, const(1)), (minutes(10), const(0)))),
        # w1: off the bus for 9 minutes only
        Series(
            f'ssai_bus_connected{{{SVC},instance="w1"}}',
            piecewise((0, const(1)), (minutes(10), const(0)), (minutes(19), const(1))),
        ),
    ),
    expect=(
        # the failure is sampled at 607.5 s, evaluated at 615 s: fires at 915 s
        Expect(minutes(15), "SidecarStatePersistFailures"),
        Expect(
            minutes(15.25),
            "SidecarStatePersistFailures",
            (
                Firing(
                    {"severity": "warning", "job": "sidecar"},
                    "sidecar: 1 durable ad-state writes failed in the last 15 minutes (target: every write "
                    "confirmed). Search the logs for persist_failed.",
                ),
            ),
        ),
        # the sample before the failure (592.5 s) leaves the window at 1500 s
        Expect(minutes(25), "SidecarStatePersistFailures"),
        Expect(minutes(15), "SidecarConfigInvalidationErrors"),
        Expect(
            minutes(15.25),
            "SidecarConfigInvalidationErrors",
            (
                Firing(
                    {"severity": "warning", "job": "sidecar", "scope": "channel"},
                    "1 channel-scope cache invalidations failed in the last 15 minutes; changed channels keep their "
                    "old config until the TTL expires.",
                ),
            ),
        ),
        # off the bus from 600 s: every sample of the 5-minute window is 0 from 900 s; fires at 1200 s
        Expect(minutes(19.75), "SidecarConfigBusDisconnected"),
        Expect(
            minutes(20),
            "SidecarConfigBusDisconnected",
            (
                Firing(
                    {"severity": "warning", "job": "sidecar", "instance": "w0"},
                    "w0 has not been subscribed to the notification bus for 10 minutes: it reads config from the "
                    "shared cache and the store only, and hears of cue changes late.",
                ),
            ),
        ),
    ),
)

CONFIG = OffsetFile(
    "offset-config-test.yaml",
    "Config propagation latency, timeouts, invalidation, the bus and durable writes with real scrape timing.",
    (PROPAGATION_LATENCY, TIMEOUTS, ZERO_COUNTS),
)


# --- delivery: ratios and gauges -------------------------------------------------------------------------
# Ratios of two counters sampled at the same times are exact whatever the offset (extrapolation
# scales both alike); what moves is when a change in the ratio crosses the threshold.
def _ratio(selector_bad: str, selector_good: str, before: float, after: float, at: float, rate: float = 1.0) -> tuple[
    Series, Series
]:
    """Counters whose bad share is ``before`` until ``at`` and ``after`` from then on."""
    bad = total(ramp(rate * before, until=at), ramp(rate * after, since=at))
    good = total(ramp(rate * (1 - before), until=at), ramp(rate * (1 - after), since=at))
    return Series(selector_bad, bad), Series(selector_good, good)


def _warn(description: str, **labels: str) -> Firing:
    return Firing({"severity": "warning", **labels}, description)


CACHE_NOTE = (
    "Misses are reads the SQL store answered: look for the shared cache (Redis) failing or writes with warm=false."
)
CACHE = "ssai_config_cache_requests_total"

CACHE_HIT_RATE = Scenario(
    "config cache hit rate: 81.25 % stays quiet, 62.5 % fires (busy channels only)",
    until=minutes(60),
    series=(
        # o/hot: 8 reads a minute, all hits, then from minute 30 5 hits and 3 misses (62.5 %).
        # The 10-minute window's samples span 585 s; x s of them in the new regime give
        # 0.05x / 78 misses: above 20 % from x > 312, i.e. from the evaluation at 2130 s
        Series(f'{CACHE}{{{SVC},org="o",channel="hot",result="hit"}}',
               total(ramp(8 / 60, until=minutes(30)), ramp(5 / 60, since=minutes(30)))),
        Series(f'{CACHE}{{{SVC},org="o",channel="hot",result="miss"}}', ramp(3 / 60, since=minutes(30))),
        Series(f'{CACHE}{{{SVC},org="o",channel="hot",result="coalesced"}}', const(0)),
        # o/fine: 13 hits and 3 misses a minute: 81.25 %
        Series(f'{CACHE}{{{SVC},org="o",channel="fine",result="hit"}}', ramp(13 / 60)),
        Series(f'{CACHE}{{{SVC},org="o",channel="fine",result="miss"}}', ramp(3 / 60)),
        # o/quiet: a third, but 3 reads a minute: below the traffic floor, the TTL explains it
        Series(f'{CACHE}{{{SVC},org="o",channel="quiet",result="hit"}}', ramp(1 / 60)),
        Series(f'{CACHE}{{{SVC},org="o",channel="quiet",result="miss"}}', ramp(2 / 60)),
        # o/perfect: never missed, so it has no miss series at all
        Series(f'{CACHE}{{{SVC},org="o",channel="perfect",result="hit"}}', ramp(1.0)),
    ),
    expect=(
        Expect(minutes(50.25), "SidecarConfigCacheHitRateLow"),
        Expect(
            minutes(50.5),
            "SidecarConfigCacheHitRateLow",
            (_warn(f"o/hot: config cache hit rate 62.5% over 10 minutes (threshold 80%, target 85%). {CACHE_NOTE}",
                   org="o", channel="hot"),),
        ),
    ),
)

ORIGIN = "ssai_origin_fetch_seconds_count"
VAST = "ssai_vast_requests_total"
BEACONS = "ssai_beacons_total"

DELIVERY_RATIOS = Scenario(
    "origin errors, VAST timeouts, beacon failures: just under the threshold for 20-30 minutes, then over it",
    until=minutes(50),
    series=(
        # 4.9 % until minute 20, then 6 %: over 5 % once 25.9 s of the window's 285 s of samples
        # are new, from the evaluation at 1245 s; fires 10 m later
        *_ratio(f'{ORIGIN}{{{SVC},instance="w0",result="error"}}', f'{ORIGIN}{{{SVC},instance="w0",result="ok"}}',
                0.049, 0.06, minutes(20)),
        # 9 % until minute 20, then 12 %: over 10 % from x > 195 s of 585 s, at 1410 s; fires 15 m later
        *_ratio(f'{VAST}{{{SVC},instance="w0",outcome="timeout"}}', f'{VAST}{{{SVC},instance="w0",outcome="ok"}}',
                0.09, 0.12, minutes(20)),
        # 4.9 % until minute 30, then 7 %: over 5 % from x > 27.9 s of 585 s, at 1845 s; fires 15 m later
        *_ratio(f'{BEACONS}{{{SVC},instance="w0",event="impression",result="failed"}}',
                f'{BEACONS}{{{SVC},instance="w0",event="impression",result="sent"}}', 0.049, 0.07, minutes(30)),
        Series(f'{BEACONS}{{{SVC},instance="w0",event="impression",result="retried"}}', ramp(0.5)),
    ),
    expect=(
        Expect(minutes(30.5), "SidecarOriginErrorRatioHigh"),
        Expect(
            minutes(30.75),
            "SidecarOriginErrorRatioHigh",
            (_warn("6% of origin playlist fetches by sidecar failed over 5 minutes (threshold 5%). "
                   "ssai_origin_errors_total names the channels.", job="sidecar"),),
        ),
        Expect(minutes(38.25), "SidecarVastTimeoutRatioHigh"),
        Expect(
            minutes(38.5),
            "SidecarVastTimeoutRatioHigh",
            (_warn("12% of VAST calls timed out over 10 minutes (threshold 10%); breaks fall back to pods and slate.",
                   job="sidecar"),),
        ),
        Expect(minutes(45.5), "SidecarBeaconDeliveryFailing"),
        Expect(
            minutes(45.75),
            "SidecarBeaconDeliveryFailing",
            (_warn("7% of tracking beacons failed or were dropped over 10 minutes (threshold 5%); ad impressions go "
                   "unreported.", job="sidecar"),),
        ),
    ),
)

DELIVERY_OTHER = Scenario(
    "fill rate 49 % fires, 51 % does not; a beacon queue stuck past 300 s; one bad playlist; one invalid manifest",
    until=minutes(30),
    series=(
        Series(f'ssai_avail_seconds_total{{{SVC},org="o",channel="low"}}', ramp(1.0)),
        Series(f'ssai_avail_filled_seconds_total{{{SVC},org="o",channel="low"}}', ramp(0.49)),
        Series(f'ssai_avail_seconds_total{{{SVC},org="o",channel="half"}}', ramp(1.0)),
        Series(f'ssai_avail_filled_seconds_total{{{SVC},org="o",channel="half"}}', ramp(0.51)),
        # w0's oldest beacon is stuck from minute 10 (over 300 s from 900 s, sampled 907.5 s);
        # w1's reaches 299 s and is then acknowledged
        Series(f'ssai_beacon_queue_oldest_age_seconds{{{SVC},instance="w0"}}',
               piecewise((0, const(0)), (minutes(10), lambda t: t - minutes(10)))),
        Series(f'ssai_beacon_queue_oldest_age_seconds{{{SVC},instance="w1"}}',
               piecewise((0, const(0)), (minutes(10), lambda t: min(t - minutes(10), 299.0)), (minutes(15), const(0)))),
        Series(f'ssai_playlist_validation_failures_total{{{SVC},instance="w0",rule="pdt"}}', events([minutes(10)])),
        Series(f'ssai_playlist_validation_failures_total{{{SVC},instance="w0",rule="msn"}}', const(0)),
        Series(f'ssai_probe_manifest_failures_total{{{PROBE},channel="o/c1",reason="msn"}}', events([minutes(10)])),
    ),
    expect=(
        # two samples (7.5 s, 22.5 s) give a rate from 30 s on: fires 15 m later
        Expect(minutes(15.25), "SidecarAdFillRateLow"),
        Expect(
            minutes(15.5),
            "SidecarAdFillRateLow",
            (_warn("o/low: only 49% of avail seconds were filled with ads in the last hour (threshold 50%).",
                   org="o", channel="low"),),
        ),
        Expect(minutes(25), "SidecarBeaconQueueStale"),
        Expect(
            minutes(25.25),
            "SidecarBeaconQueueStale",
            (_warn("The oldest unacknowledged beacon on w0 is 15m 7s old (threshold 300s).",
                   job="sidecar", instance="w0"),),
        ),
        Expect(minutes(15), "SidecarPlaylistValidationFailures"),
        Expect(
            minutes(15.25),
            "SidecarPlaylistValidationFailures",
            (_warn("1 rendered playlists broke the pdt rule in the last 15 minutes; players may stall or skip.",
                   job="sidecar", rule="pdt"),),
        ),
        Expect(minutes(15), "SidecarProbeManifestInvalid"),
        Expect(
            minutes(15.25),
            "SidecarProbeManifestInvalid",
            (_warn("The probe saw 1 invalid manifests on channel o/c1 in the last 15 minutes (reason: msn).",
                   job="sidecar-probe", channel="o/c1", reason="msn"),),
        ),
    ),
)

DELIVERY = OffsetFile(
    "offset-delivery-test.yaml",
    "Cache hit rate, origin, ads and beacons with real scrape timing.",
    (CACHE_HIT_RATE, DELIVERY_RATIOS, DELIVERY_OTHER),
)

# --- scrape targets ------------------------------------------------------------------------------------
def _down_between(start: float, end: float) -> Value:
    """``up``: 1, then 0 for every scrape from ``start`` to ``end``, then 1 again."""
    return piecewise((0, const(1)), (start, const(0)), (end, const(1)))


TARGETS_DOWN = Scenario(
    "targets down for 6 minutes alert, for 4 minutes do not; a target that disappears is absent",
    until=minutes(35),
    series=(
        # Prometheus writes up=0 for every failed scrape (no gap)
        Series(f'up{{{SVC},instance="w0"}}', _down_between(minutes(10), minutes(16))),
        Series(f'up{{{SVC},instance="w1"}}', _down_between(minutes(10), minutes(14))),
        Series(f'up{{{PROBE},instance="p0"}}', _down_between(minutes(10), minutes(16)), gone=minutes(20)),
        Series(f'ssai_build_info{{{SVC},instance="w0",version="1"}}', const(1)),
        Series(f'ssai_probe_config_propagation_seconds_count{{{PROBE},instance="p0",target="a"}}', ramp(0.1),
               gone=minutes(20)),
    ),
    expect=(
        # first failed scrape 607.5 s, evaluated 615 s: fires at 915 s
        Expect(minutes(15), "SidecarTargetDown"),
        Expect(minutes(15.25), "SidecarTargetDown", (
            Firing({"severity": "critical", "job": "sidecar", "instance": "w0"},
                   "w0 of job sidecar has failed every scrape for 5 minutes."),)),
        Expect(minutes(16.25), "SidecarTargetDown"),
        Expect(minutes(15.25), "SidecarProbeDown", (
            Firing({"severity": "warning", "job": "sidecar-probe", "instance": "p0"},
                   "p0 of job sidecar-probe has failed every scrape for 5 minutes: config propagation and manifest "
                   "validity are not being measured."),)),
        # removed at minute 20: stale from the sample at 1207.5 s, absent from the evaluation at 1215 s
        Expect(minutes(35), "SidecarProbeAbsent"),
        Expect(minutes(35.25), "SidecarProbeAbsent", (
            Firing({"severity": "warning", "job": "sidecar-probe"},
                   "No target of job sidecar-probe for 15 minutes: config propagation and manifest validity are not "
                   "being measured."),)),
        Expect(minutes(35.25), "SidecarTargetAbsent"),
        Expect(minutes(35.25), "SidecarMetricsAbsent"),
    ),
)

NO_TARGET = Scenario(
    "no sidecar target at all (another job's target disappears)",
    until=minutes(10),
    series=(Series('up{job="other",instance="x"}', const(1), gone=minutes(2)),),
    expect=(
        # nothing of our job ever existed: absent from the first evaluation, fires 5 m later
        Expect(minutes(4.75), "SidecarTargetAbsent"),
        Expect(minutes(5), "SidecarTargetAbsent", (
            Firing({"severity": "critical", "job": "sidecar"},
                   "No target of job sidecar has been discovered for 5 minutes: nothing about the service is being "
                   "measured or alerted on."),)),
    ),
)

NOTHING_MEASURED = Scenario(
    "a sidecar target without sidecar metrics, a probe that measures no propagation",
    until=minutes(35),
    series=(
        Series(f'up{{{SVC},instance="w9"}}', const(1)),
        Series(f'up{{{PROBE},instance="p0"}}', const(1)),
    ),
    expect=(
        Expect(minutes(9.75), "SidecarMetricsAbsent"),
        Expect(minutes(10), "SidecarMetricsAbsent", (
            Firing({"severity": "warning", "job": "sidecar"},
                   "No ssai_build_info series from job sidecar for 10 minutes although its targets are up: the scrape "
                   "reaches something that is not the sidecar's /metrics."),)),
        Expect(minutes(10), "SidecarTargetAbsent"),
        Expect(minutes(29.75), "SidecarConfigPropagationUnmeasured"),
        Expect(minutes(30), "SidecarConfigPropagationUnmeasured", (
            Firing({"severity": "warning", "job": "sidecar-probe"},
                   "Job sidecar-probe has exported no ssai_probe_config_propagation_seconds for 30 minutes: the "
                   "config update latency alert cannot fire."),)),
    ),
)

TARGETS = OffsetFile(
    "offset-targets-test.yaml",
    "Scrape targets down and absent with real scrape timing.",
    (TARGETS_DOWN, NO_TARGET, NOTHING_MEASURED),
)


# --- SLO burn rates (scrape every minute, 30 s after each evaluation) -----------------------------------
# A constant error ratio from the start: both windows of a row have a rate from the evaluation at
# 2 m (samples at 30 s and 90 s), so a row with `for: F` fires at 2 m + F. Each ratio is above
# its row's threshold (factor x budget) and below the faster rows', and the slower rows' `for:`
# has not elapsed when it is checked.
ROWS = (  # long, short, severity, factor, for (minutes)
    ("1h", "5m", "critical", "14.4", 2),
    ("6h", "30m", "critical", "6", 15),
    ("1d", "2h", "warning", "3", 60),
    ("3d", "6h", "warning", "1", 180),
)
AVAILABILITY_RATIOS = (0.02, 0.008, 0.004, 0.0015)  # budget 0.1 %: thresholds 1.44 %, 0.6 %, 0.3 %, 0.1 %
LATENCY_RATIOS = (0.2, 0.08, 0.04, 0.015)  # budget 1 %: 14.4 %, 6 %, 3 %, 1 %
MANIFESTS = "ssai_manifest_requests_total"
LATENCY = "ssai_manifest_request_seconds"
PROPAGATION = "ssai_config_propagation_seconds"


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def _burn(row: int) -> Scenario:
    long, short, severity, factor, for_minutes = ROWS[row]
    bad, slow = AVAILABILITY_RATIOS[row], LATENCY_RATIOS[row]
    rate = 10.0
    series = (
        Series(f'{MANIFESTS}{{{SVC},instance="w0",org="o",channel="c",kind="media",mode="ssai",status="200"}}',
               ramp(rate * (1 - bad))),
        Series(f'{MANIFESTS}{{{SVC},instance="w0",org="o",channel="c",kind="media",mode="ssai",status="503"}}',
               ramp(rate * bad)),
        Series(f'{LATENCY}_count{{{SVC},instance="w0",kind="media"}}', ramp(rate)),
        Series(f'{LATENCY}_bucket{{{SVC},instance="w0",kind="media",le="0.15"}}', ramp(rate * (1 - slow))),
        # config changes of org o, as each of two processes observes them
        *(
            series
            for instance in ("w0", "w1")
            for series in (
                Series(f'{PROPAGATION}_count{{{SVC},instance="{instance}",org="o"}}', ramp(rate)),
                Series(f'{PROPAGATION}_bucket{{{SVC},instance="{instance}",org="o",le="+Inf"}}', ramp(rate)),
                Series(f'{PROPAGATION}_bucket{{{SVC},instance="{instance}",org="o",le="2.0"}}',
                       ramp(rate * (1 - slow))),
            )
        ),
    )
    window = {"long": long, "short": short}
    tail = f"over the last {long} (and still over the last {short}): {factor}x the rate the"
    fires = minutes(2 + for_minutes)
    return Scenario(
        f"burn rate {factor}x over {long} and {short} ({severity}): quiet until `for:` has elapsed, then fires",
        until=fires + minutes(2),
        series=series,
        expect=(
            *(Expect(fires - minutes(1), name) for name in (
                "SidecarManifestAvailabilityBudgetBurn", "SidecarManifestLatencyBudgetBurn",
                "SidecarConfigPropagationBudgetBurn")),
            Expect(fires, "SidecarManifestAvailabilityBudgetBurn", (
                Firing({"severity": severity, "slo": "manifest-availability", **window, "job": "sidecar"},
                       f"{_percent(bad)} of manifest requests to sidecar answered with a 5xx {tail} 99.9% manifest "
                       "availability SLO can afford over 30 days."),)),
            Expect(fires, "SidecarManifestLatencyBudgetBurn", (
                Firing({"severity": severity, "slo": "manifest-latency", **window, "job": "sidecar"},
                       f"{_percent(slow)} of manifest requests to sidecar took longer than 0.15s {tail} 99% manifest "
                       "latency SLO can afford over 30 days."),)),
            Expect(fires, "SidecarConfigPropagationBudgetBurn", (
                Firing({"severity": severity, "slo": "config-propagation", **window, "org": "o"},
                       f"{_percent(slow)} of config changes of org o took longer than 2s to reach a process {tail} "
                       "99% config propagation SLO can afford over 30 days."),)),
        ),
    )


# Few changes: org o has three in 30 minutes, the last one slow. A third of its changes were slow
# in the last hour and all of them in the last 5 minutes, far over every row, but one slow change
# is an outlier: no page, no ticket. Org p has two slow changes among four: the fast row pages.
FEW_CHANGES = Scenario(
    "config propagation SLO with few changes: one slow change is not a budget burn, two are",
    until=minutes(40),
    series=tuple(
        series
        for instance in ("w0", "w1")
        for org, changes, slow in (
            ("o", [minutes(10), minutes(20), minutes(30)], [minutes(30)]),
            ("p", [minutes(10), minutes(20), minutes(29), minutes(30)], [minutes(29), minutes(30)]),
        )
        for series in (
            Series(f'{PROPAGATION}_count{{{SVC},instance="{instance}",org="{org}"}}', events(changes)),
            Series(f'{PROPAGATION}_bucket{{{SVC},instance="{instance}",org="{org}",le="+Inf"}}', events(changes)),
            Series(f'{PROPAGATION}_bucket{{{SVC},instance="{instance}",org="{org}",le="2.0"}}',
                   events([c for c in changes if c not in slow])),
        )
    ),
    expect=(
        # the changes at 29 m and 30 m are sampled at 29.5 m and 30.5 m, evaluated from 31 m: the
        # fast row fires 2 m later; its 5-minute window holds both slow changes only until 34 m
        Expect(minutes(32), "SidecarConfigPropagationBudgetBurn"),
        Expect(minutes(33), "SidecarConfigPropagationBudgetBurn", (
            Firing({"severity": "critical", "slo": "config-propagation", "long": "1h", "short": "5m", "org": "p"},
                   "50% of config changes of org p took longer than 2s to reach a process over the last 1h (and still "
                   "over the last 5m): 14.4x the rate the 99% config propagation SLO can afford over 30 days."),)),
    ),
)

SLO = OffsetFile(
    "offset-slo-test.yaml",
    "Burn-rate alerts of the manifest SLOs and the per-org config propagation SLO with real scrape timing.",
    (*(_burn(row) for row in range(len(ROWS))), FEW_CHANGES),
    scrape=60.0,
)

FILES = (LIFECYCLE, CONFIG, DELIVERY, TARGETS, SLO)
