"""What every service's HTTP API shares: the app (problem+json, health), sign-in, input
types, the access log, the operations and data protection routes."""
