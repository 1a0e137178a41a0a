"""strun loads only the asdf plugins calpipe products use, and writes the same products with them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run in a fresh interpreter: the test session's asdf has loaded every plugin already.
_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path

    import numpy as np

    from calpipe.core.models.asdf_plugins import load_only_calpipe_plugins

    load_only_calpipe_plugins()
    import asdf

    from calpipe.core.io import open_product, write_atomic
    from calpipe.core.models.products import ImageModel

    m = ImageModel(data=np.ones((4, 5), np.float32), dq=np.zeros((4, 5), np.uint32))
    m.meta.instrument.name = "NIR"
    m.add_history_entry("made by the test")
    back = open_product(write_atomic(m, Path(sys.argv[1]) / "img.fits"))
    assert back.data.shape == (4, 5) and back.meta.instrument.name == "NIR"
    print(sorted({e.package_name for e in asdf.get_config().extensions}))
    print(sorted({m.package_name for m in asdf.get_config().resource_mappings}))
    print(sorted(name for name in ("gwcs", "asdf_astropy.extensions", "stdatamodels.jwst", "scipy") if name in sys.modules))
""")


def test_only_asdf_and_calpipe_plugins_are_loaded(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    extensions, mappings, imported = proc.stdout.splitlines()
    assert extensions == "['asdf']"
    assert mappings == "['asdf', 'asdf_standard', 'calpipe']"
    assert imported == "[]"
