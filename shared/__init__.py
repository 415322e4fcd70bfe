"""The library every Outreach service stands on: contracts, Kafka plumbing, privacy, auth,
telemetry, logging and settings. Nothing here belongs to one service's domain."""
