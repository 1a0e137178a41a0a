"""Reassembly of one stream from its segments: order, gaps named by sequence counts, duplicates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from calpipe.core.errors import InputDataError
from calpipe.level0.decode import Packet
from calpipe.level0.packets import CONTINUATION, FIRST, LAST, UNSEGMENTED
from calpipe.level0.streams import format_runs, reassemble
from calpipe.level0.tags import Tag

TAG = Tag("1", "1", "1")
ARRAY = np.arange(3 * 4 * 5, dtype=">u2").reshape(3, 4, 5)  # 120 bytes
PAYLOAD = ARRAY.tobytes()


def segments(size=16, first_seq=16380, file="a.pkt"):
    """The stream cut like the simulator cuts it; sequence counts wrap through 16383 -> 0."""
    count = -(-len(PAYLOAD) // size)
    out = []
    for i in range(count):
        flag = (UNSEGMENTED if count == 1 else FIRST if i == 0 else LAST if i == count - 1 else CONTINUATION)
        data = PAYLOAD[i * size:(i + 1) * size]
        out.append(Packet(file, 1000 * i, "science", 256, flag, (first_seq + i) % 16384, i, TAG, 71 + len(data),
                          bytes([i]), i * size, len(PAYLOAD), ">u2", (3, 4, 5), data))
    return out


def test_any_order_gives_the_array():
    packets = segments()
    random.Random(3).shuffle(packets)
    stream = reassemble(packets, "x")
    assert stream.complete, "stream complete"
    assert stream.array().dtype == np.uint16, "array dtype"
    assert np.array_equal(stream.array(), ARRAY), "array reassembled"
    assert ([p.seq_count for p in stream.used] == [
        16380, 16381, 16382, 16383, 0, 1, 2, 3]), "sequence counts wrap in order"


@pytest.mark.parametrize(("lost", "seqs", "start", "stop"), [
    ([0], (16380,), 0, 16),  # the first segment
    ([3, 4], (16383, 0), 48, 80),  # two in the middle, across the wrap
    ([7], (3,), 112, 120),  # the short last one
])
def test_gaps_named_by_sequence_counts(lost, seqs, start, stop):
    packets = [p for i, p in enumerate(segments()) if i not in lost]
    stream = reassemble(packets, "x")
    [gap] = stream.gaps
    assert (gap.seq_counts, gap.start, gap.stop) == (seqs, start, stop)
    missing = stream.missing()
    assert np.flatnonzero(missing).tolist() == list(range(start // 2, -(-stop // 2)))
    assert (stream.array()[missing] == 0).all(), "missing packets read as 0"
    assert np.array_equal(stream.array()[~missing], ARRAY[~missing]), "the rest is intact"


def test_duplicates_dropped_once_conflicts_refused():
    packets = segments()
    copy = Packet(**{**packets[2].__dict__, "file": "b.pkt", "position": 7})
    stream = reassemble([*packets, copy], "x")
    assert stream.complete, "stream complete"
    assert ([(d.kept.file, d.dropped.file, d.dropped.position) for d in stream.duplicates] == [
        ("a.pkt", "b.pkt", 7)]), "the duplicate is reported with its file and position"
    other = Packet(**{**copy.__dict__, "data": bytes(16)})
    with pytest.raises(InputDataError, match=r"a.pkt byte 2000 .* b.pkt byte 7 .*same segment, other content"):
        reassemble([*packets, other], "exposure 1:1:1")


def test_inconsistent_sequence_counts_refused():
    packets = segments()
    packets[3] = Packet(**{**packets[3].__dict__, "seq_count": 5})
    with pytest.raises(InputDataError, match="sequence counts jump"):
        reassemble(packets, "x")


def test_single_unsegmented_packet():
    [whole] = segments(size=120)
    assert whole.seq_flag == UNSEGMENTED
    assert np.array_equal(reassemble([whole], "x").array(), ARRAY)


def test_format_runs():
    assert format_runs([3, 4, 5, 9, 16383, 0]) == "3-5, 9, 16383-0"
