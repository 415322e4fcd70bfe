"""The coaching service: providers and their coaches, coachings (§16k SGB II) and the
Jobcenter's own group programmes."""
