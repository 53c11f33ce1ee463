"""berth: a container engine that speaks the Docker Engine API."""

__version__ = "0.1.0"
