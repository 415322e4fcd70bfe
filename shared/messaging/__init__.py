"""Kafka between the services: the consumer pattern, the relay of each event log, the
broker, and the one declaration of the topics."""
