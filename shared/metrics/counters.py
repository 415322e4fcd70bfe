"""Events only the code path sees, counted where they happen (every other figure is read at
scrape time, :mod:`shared.metrics.service`)."""

from __future__ import annotations

from prometheus_client import Counter

CHAIN_ANCHORS = Counter(
    "outreach_chain_anchors_published_total",
    "Heads of the event chain anchored on Kafka (outreach.chain-anchors).",
)
ACCESS_LOG_WRITE_FAILURES = Counter(
    "outreach_access_log_write_failures_total",
    "Access-log entries that could not be written (the request that opened the data failed).",
)
KEY_CACHE = Counter(
    "outreach_key_cache_lookups_total",
    "Look-ups of persons' data keys: hit (the process's cache) or miss (read from the keyring).",
    ["result"],
)
STAFF_DIRECTORY_SYNC = Counter(
    "outreach_staff_directory_sync_users_total",
    "Users of the identity provider in the staff directory's synchronisation, by outcome: "
    "written, removed, skipped_<reason> (data that does not fit), defaulted_<reason>.",
    ["outcome"],
)
