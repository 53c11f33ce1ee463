"""berthd as operators run it: daemon.json, metrics, logging, docker info."""
