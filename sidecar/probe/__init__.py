"""``sidecar probe``: user-level probes of a running service (config propagation, manifest
validity), exported on the probe's own ``/metrics`` from ``catalogue.probe_registry``.

Modules: :mod:`.invariants` (pure HLS reload and marker rules, shared with the tests),
:mod:`.propagation`, :mod:`.validity`, :mod:`.admin` (admin API client), :mod:`.config`,
:mod:`.runner` (process wiring).
"""
