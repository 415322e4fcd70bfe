"""The test suite (``make test``; tiers: ``make unit``, ``make integration``, ``make e2e``)."""
