"""The Outreach benchmark suite (``make bench``; see bench/README.md)."""
