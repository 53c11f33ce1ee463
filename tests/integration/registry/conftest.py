from tests.integration.registry.fixtures import auth_registry, own_registry, registry

__all__ = ["auth_registry", "own_registry", "registry"]
