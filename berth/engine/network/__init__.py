"""Networking: bridge networks, container endpoints, published ports, /etc/hosts names."""
