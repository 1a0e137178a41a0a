"""Load only the asdf plugins that calpipe products use, in processes that handle nothing else.

asdf loads every installed ``asdf.extensions`` and ``asdf.resource_mappings``
entry point the first time a file is opened or a model made. Next to
stdatamodels that means importing jwst's datamodels, its transforms, gwcs,
scipy and asdf-astropy's manifests: ~0.9 s per process, for tags a calpipe
product never holds. Its tree is plain mappings, strings, numbers and arrays
(asdf's core tags), checked against calpipe's schemas (and those of calpipe
plugins), which build on the ASDF standard's.

`strun` and its workers call `load_only_calpipe_plugins` before touching a
product. A library user's process keeps asdf's defaults: it may well hold
other ASDF files. The bytes written are the same either way. A plugin whose
products held other tags (astropy or gwcs objects) would need their packages'
plugins too; none does: calpipe writes WCS as FITS keywords.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points

# The ASDF standard's schemas and asdf's core extension (ndarray, history, software tags).
_ASDF_DISTRIBUTIONS = ("asdf", "asdf-standard")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def calpipe_distributions() -> set[str]:
    """Normalised names of asdf itself, the ASDF standard, and every distribution with calpipe plugins."""
    return {*_ASDF_DISTRIBUTIONS, *(_normalise(ep.dist.name) for ep in entry_points(group="calpipe"))}


def _load(group: str, proxy: type, wanted: set[str]) -> list:
    """The group's plugins from ``wanted`` distributions, wrapped and ordered as asdf does it itself.

    asdf puts other packages first, sorted by name, and its own last so that they can override it.
    The same entry point can be listed twice (a distribution seen on two sys.path entries): once is enough.
    """
    points = {}
    for ep in entry_points(group=group):
        dist = _normalise(ep.dist.name)
        if dist in wanted:
            points.setdefault((dist, ep.name), ep)
    ordered = sorted(points.items(), key=lambda item: (item[0][0] == "asdf", item[0]))
    plugins = []
    for _, ep in ordered:
        elements = ep.load()()
        for element in elements if isinstance(elements, list) else [elements]:
            plugins.append(proxy(element, package_name=ep.dist.name, package_version=ep.dist.version))
    return plugins


def load_only_calpipe_plugins() -> None:
    """Give this process's asdf configuration only calpipe's (and asdf's own) plugins."""
    import asdf
    from asdf.extension import ExtensionProxy
    from asdf.resource import ResourceMappingProxy

    wanted = calpipe_distributions()
    config = asdf.get_config()
    # asdf (3 to 6) has no public way to set these lists without first loading every entry point,
    # which is the cost avoided here; its own add_/remove_ methods assign the same attributes.
    config._resource_mappings = _load("asdf.resource_mappings", ResourceMappingProxy, wanted)
    config._resource_manager = None
    config._extensions = _load("asdf.extensions", ExtensionProxy, wanted)
