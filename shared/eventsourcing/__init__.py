"""The eventsourcing library as every service uses it: the application base, tracked
views, the batching projection runner, parked events, rebuilds, and command metadata."""
