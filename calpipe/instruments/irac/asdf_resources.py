"""ASDF entry point: makes the IRAC schemas resolvable by their URIs."""

from importlib import resources

from asdf.resource import DirectoryResourceMapping

SCHEMA_URI_PREFIX = "http://calpipe.org/schemas/irac/"


def get_resource_mappings() -> list[DirectoryResourceMapping]:
    return [DirectoryResourceMapping(resources.files(__package__) / "schemas", SCHEMA_URI_PREFIX)]
