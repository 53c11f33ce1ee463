"""Volumes: named and anonymous data directories that outlive containers (the local driver)."""
