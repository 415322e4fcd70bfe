"""How a service runs: its infrastructure, its FastAPI app whose lifespan starts what the
process role runs, and the supervision of its projection runners."""
