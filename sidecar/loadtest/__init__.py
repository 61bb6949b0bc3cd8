"""``sidecar loadtest``: simulated live-HLS viewers plus scheduled cues, config updates and
restarts, reported as HTML + PNG + JSON with client-side latency and the server's own numbers.

Modules: :mod:`.workload` (viewers, actions), :mod:`.samples` (pure statistics),
:mod:`.scrape` (exact before/after counters from the service's /metrics), :mod:`.prom`
(KPIs from Prometheus' HTTP API), :mod:`.report` (files), :mod:`.channels` (what to load),
:mod:`.runner` (the order of it all), :mod:`.localstack` (a local stack for the example report).
"""
