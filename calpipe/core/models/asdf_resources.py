"""ASDF entry point: makes calpipe's schemas resolvable by their URIs."""

from importlib import resources

from asdf.resource import DirectoryResourceMapping

SCHEMA_URI_PREFIX = "http://calpipe.org/schemas/"


def get_resource_mappings() -> list[DirectoryResourceMapping]:
    root = resources.files("calpipe.core.models") / "schemas"
    return [DirectoryResourceMapping(root, SCHEMA_URI_PREFIX)]
