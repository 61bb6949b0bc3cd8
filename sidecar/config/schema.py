"""SQL tables (SQLAlchemy Core). Migrations in ``migrations/`` create exactly these.

Timestamps are float Unix seconds: portable across SQLite and PostgreSQL without timezone
surprises. ``version`` columns take values from one global counter (``version_counter``), so a
channel's version only ever rises, even when a slug is deleted and created again; cache writes
compare against it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

version_counter = Table(
    "version_counter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("version", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

slates = Table(
    "slates",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("slug", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("variants", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("org_id", "slug", name="uq_slates_org_slug"),
)

ad_pods = Table(
    "ad_pods",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("slug", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("variants", JSON, nullable=False),
    Column("tracking", JSON, nullable=False),
    Column("vast_creative_id", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("org_id", "slug", name="uq_ad_pods_org_slug"),
)

channels = Table(
    "channels",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("slug", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("origin_url", Text, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scte35_enabled", Boolean, nullable=False),
    Column("scte35_auto_insert", Boolean, nullable=False),
    Column("schedule_enabled", Boolean, nullable=False),
    Column("schedule_interval_minutes", Integer, nullable=False),
    Column("schedule_break_seconds", Integer, nullable=False),
    Column("vast_enabled", Boolean, nullable=False),
    Column("vast_url", Text, nullable=True),
    Column("vast_timeout_ms", Integer, nullable=False),
    Column("default_ad_duration_seconds", Integer, nullable=False),
    Column("slate_id", String(40), ForeignKey("slates.id", ondelete="SET NULL"), nullable=True),
    Column("ad_pod_id", String(40), ForeignKey("ad_pods.id", ondelete="SET NULL"), nullable=True),
    Column("ad_pod_base_url", Text, nullable=True),
    Column("manifest_cache_max_age_seconds", Integer, nullable=False),
    Column("interstitial_restrict", String(32), nullable=True),
    Column("interstitial_snap", String(32), nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("org_id", "slug", name="uq_channels_org_slug"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

# --- channel actors (durable ad-break state and instance lifecycle) ----------------------------------
channel_state = Table(
    "channel_state",
    metadata,
    Column("channel_id", String(40), ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", String(40), nullable=False),
    Column("state", JSON, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

actor_instances = Table(
    "actor_instances",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("slot", String(200), primary_key=True),
    Column("instance_id", String(40), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("evicted_at", Float, nullable=True),
    Column("evict_reason", String(16), nullable=True),
)

# --- the audit trail of admin writes -------------------------------------------------------------------
# No foreign keys: a record outlives what it describes (the deletion of an organization is audited too).
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("occurred_at", Float, nullable=False, index=True),
    Column("org_id", String(40), nullable=False),  # the acting token's organization
    Column("target_org_id", String(40), nullable=False),  # the organization whose data the write concerns
    Column("token_id", String(40), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("method", String(8), nullable=False),
    Column("route", String(200), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_ref", String(64), nullable=True),
    Column("object_id", String(40), nullable=True),
    Column("fields", JSON, nullable=False),
    Column("status", Integer, nullable=False),
    Column("result", String(8), nullable=False),
    Column("problem", String(64), nullable=True),
    Column("source_ip", String(64), nullable=True),
    Index("ix_audit_events_org_id_id", "org_id", "id"),
    Index("ix_audit_events_target_org_id_id", "target_org_id", "id"),
)

# --- lifecycle accounting (ADR 0010) ------------------------------------------------------------------
#: Durable counters of one worker slot: the actor and process lifecycle metrics, written in the
#: same transaction as the record they count, exported by whichever process holds the slot.
#: One row per sample: ``sample`` is ``total`` (a counter), or ``count``, ``sum``, ``le=<bound>``
#: (a histogram); ``labels`` is the canonical JSON of the series' labels (without ``le``).
#: ``exposed``: some scrape has already seen this series (at zero at least), so its value may be
#: shown as it is; an unexposed series is first shown at zero (Prometheus cannot see an
#: increase into a series' first sample).
lifecycle_ledger = Table(
    "lifecycle_ledger",
    metadata,
    Column("slot", String(200), primary_key=True),
    Column("family", String(100), primary_key=True),
    Column("labels", String(400), primary_key=True),
    Column("sample", String(40), primary_key=True),
    Column("value", Float, nullable=False),
    Column("exposed", Boolean, nullable=False),
)

#: The current (or last) process run of each worker slot: a run that started and never recorded
#: a clean stop ended in a crash, which its successor counts.
process_runs = Table(
    "process_runs",
    metadata,
    Column("slot", String(200), primary_key=True),
    Column("run_id", String(40), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
)
