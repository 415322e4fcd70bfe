"""The visits service: announcing home visits in writing, making them, recording outcomes."""
