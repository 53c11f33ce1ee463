"""docker build with the classic builder: Dockerfile parsing, expansion, steps."""
