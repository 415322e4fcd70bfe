"""The local system's launchers: ``stack.py`` (PostgreSQL, Kafka, Keycloak), ``services.py``
(the services as processes) and ``demo.py``; each runs as a script, and the benchmarks and
the tests import them as ``deploy.local.<module>``."""
