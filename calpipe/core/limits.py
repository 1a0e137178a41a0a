"""Bounds on what calpipe reads, so a hostile file ends in a clear refusal, never a hang or OOM.

Only regular files are read (a FIFO would block forever, /dev/zero never ends);
text documents have a size limit; YAML is composed to nodes and its size after
alias expansion is counted before anything is built from it (a 736-byte
"billion laughs" document expands to 10**9 nodes).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

MAX_YAML_BYTES = 1 << 20  # the largest pipeline file shipped is under 4 kB
MAX_YAML_NODES = 100_000  # nodes after alias expansion
MAX_YAML_DEPTH = 100  # nesting of mappings and sequences
MAX_IMPORT_DEPTH = 32  # pipeline imports importing pipelines


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def require_regular(path: Path, error: type[Exception]) -> os.stat_result:
    """stat ``path`` (following links); refuse anything but a regular file with ``error``."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: {_kind(st.st_mode)}, not a regular file (calpipe reads regular files only)")
    return st


def read_bytes(path: Path, limit: int, error: type[Exception], what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; opening never blocks on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: {_kind(st.st_mode)}, not a regular file (calpipe reads regular "
                        f"files only)")
        if st.st_size > limit:
            raise error(f"{path}: {st.st_size} bytes, more than the {limit} a {what} may have")
        data = f.read(st.st_size + 1)  # one byte more: a file growing while read is seen
    if len(data) > limit:
        raise error(f"{path}: more than the {limit} bytes a {what} may have")
    return data


def read_text(path: Path, limit: int, error: type[Exception], what: str) -> str:
    """``read_bytes`` decoded as UTF-8 (UnicodeDecodeError for binary content)."""
    return read_bytes(path, limit, error, what).decode("utf-8")


def check_yaml_size(node: yaml.Node | None, where: str, error: type[Exception]) -> None:
    """Refuse a composed YAML document whose alias expansion or nesting exceeds the limits."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if id(n) in sizes:  # an alias: counted again in full, without walking it again
            return sizes[id(n)]
        if depth > MAX_YAML_DEPTH:
            raise error(f"{where}: YAML nested more than {MAX_YAML_DEPTH} levels deep")
        total = 1
        if isinstance(n, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(v, depth + 1) for v in n.value)
        if total > MAX_YAML_NODES:
            raise error(f"{where}: YAML expands to more than {MAX_YAML_NODES} nodes (through anchors "
                        "and aliases?); write the values out")
        sizes[id(n)] = total
        return total

    if node is not None:
        size(node, 0)


def safe_yaml(text: str, where: str, error: type[Exception]):
    """yaml.safe_load within the limits: composed and measured before any object is built."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        check_yaml_size(node, where, error)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
