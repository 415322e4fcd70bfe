"""The notifications service: events into letters and messages, each sent exactly once."""
