"""The packet layout of packets.yaml: what the writer puts where, read back by ccsdspy."""

from __future__ import annotations

import io

import ccsdspy
import numpy as np
import pytest

from calpipe.core.errors import InputDataError
from calpipe.level0.decode import definition, read_telemetry
from calpipe.level0.packets import (
    FIRST,
    LAST,
    UNSEGMENTED,
    crc16,
    encode,
    layout,
    segment_overhead,
    split_ticks,
    ticks_to_iso,
    to_ticks,
)

SEGMENT = {"PROGRAM": "00001", "VISIT": "001", "EXPOSURE": "00042", "OFFSET": 6, "TOTAL": 12,
           "DTYPE": ">u2", "NDIM": 2, "SHAPE": [2, 3, 0, 0], "TIME_S": 829_180_800, "TIME_SUB": 32768}


def test_layout_comes_from_the_shipped_yaml():
    lay = layout()
    assert {k: p.apid for k, p in lay.packets.items()} == {"science": 256, "header": 257, "housekeeping": 384}
    assert lay.tag_widths() == (8, 8, 8)
    assert segment_overhead() == 6 + 30 + 37 + 2  # primary + secondary + segment header + CRC
    assert lay.packets["housekeeping"].min_bytes == 6 + 30 + 8 + 2


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE


def test_primary_header_and_fields_read_back_by_ccsdspy():
    packet = encode("science", LAST, 16383 + 5, SEGMENT, bytes(range(6)))
    assert len(packet) == segment_overhead() + 6
    fields = definition("science").load(io.BytesIO(packet), include_primary_header=True)
    one = {k: v[0] for k, v in fields.items()}
    assert (one["CCSDS_VERSION_NUMBER"], one["CCSDS_PACKET_TYPE"], one["CCSDS_SECONDARY_FLAG"]) == (0, 0, 1)
    assert one["CCSDS_APID"] == 256, "APID"
    assert one["CCSDS_SEQUENCE_FLAG"] == LAST, "sequence flag"
    assert one["CCSDS_SEQUENCE_COUNT"] == 4  # 14 bits: 16388 wraps to 4
    assert one["CCSDS_PACKET_LENGTH"] == len(packet) - 7
    assert (one["TIME_S"], one["TIME_SUB"]) == (829_180_800, 32768)
    assert (one["PROGRAM"], one["VISIT"], one["EXPOSURE"], one["DTYPE"]) == (b"00001", b"001", b"00042", b">u2")
    assert (one["OFFSET"], one["TOTAL"], one["NDIM"]) == (6, 12, 2), "offset, total and ndim"
    assert list(one["SHAPE"]) == [2, 3, 0, 0], "shape"
    assert one["DATA"].tobytes() == bytes(range(6))
    assert one["CRC"] == crc16(packet[:-2]) == int.from_bytes(packet[-2:], "big")


def test_housekeeping_is_fixed_length_and_untagged(tmp_path):
    packet = encode("housekeeping", UNSEGMENTED, 7, {"DETTEMP": 37.25, "BIASVOLT": 0.25, **split_ticks(65536 * 3 + 1)})
    path = tmp_path / "hk.pkt"
    path.write_bytes(packet)
    [p] = read_telemetry(path).packets
    assert (p.kind, p.apid, p.seq_count, p.ticks, p.tag) == ("housekeeping", 384, 7, 65536 * 3 + 1, None)
    assert p.values == {"DETTEMP": 37.25, "BIASVOLT": 0.25}
    assert isinstance(definition("housekeeping"), ccsdspy.FixedLength)


def test_time_ticks_round_trip():
    from datetime import datetime

    when = datetime(2026, 1, 1, 0, 0, 0, 250000)
    ticks = to_ticks(when)
    assert ticks == ((26 * 365 + 7) * 86400) * 65536 + 16384  # 7 leap days 2000..2025, 0.25 s
    assert ticks_to_iso(ticks) == "2026-01-01T00:00:00.250"


def test_packet_too_large_or_with_unknown_fields_refused():
    with pytest.raises(ValueError, match="65536"):
        encode("science", FIRST, 0, SEGMENT, bytes(65536))
    with pytest.raises(ValueError, match="no field COLOUR"):
        encode("science", FIRST, 0, {**SEGMENT, "COLOUR": 1})


def test_positions_rejections_and_unreadable_files(tmp_path):
    good = encode("science", FIRST, 1, {**SEGMENT, "OFFSET": 0}, bytes(6))
    bad = bytearray(encode("science", LAST, 2, SEGMENT, bytes(6)))
    bad[-3] ^= 0x10  # one bit of data
    unknown = encode("science", UNSEGMENTED, 3, SEGMENT, bytes(6))
    unknown = bytes([unknown[0] & 0xF8 | 0x07, 0xFF]) + unknown[2:]  # APID 2047
    path = tmp_path / "mixed.pkt"
    path.write_bytes(good + bytes(bad) + unknown)
    tf = read_telemetry(path)
    assert [(p.position, p.seq_count) for p in tf.packets] == [(0, 1)]
    assert [(r.position, r.apid, r.seq_count) for r in tf.rejected] == [(len(good), 256, 2),
                                                                      (2 * len(good), 2047, 3)]
    assert "CRC" in tf.rejected[0].reason, "CRC rejection reason"
    assert "unknown APID" in tf.rejected[1].reason, "unknown APID rejection reason"

    truncated = tmp_path / "truncated.pkt"
    truncated.write_bytes(good + good[:-5])
    with pytest.raises(InputDataError, match=rf"truncated.pkt: .* packet at byte {len(good)} runs past the end"):
        read_telemetry(truncated)
    with pytest.raises(InputDataError, match="empty"):
        (tmp_path / "empty.pkt").write_bytes(b"")
        read_telemetry(tmp_path / "empty.pkt")
    fits_file = tmp_path / "not.pkt"
    fits_file.write_bytes(b"SIMPLE  =                    T" + b" " * 2849)
    with pytest.raises(InputDataError, match="not readable as CCSDS packets"):
        read_telemetry(fits_file)


def test_rejected_packets_keep_their_neighbours(tmp_path):
    """A corrupted packet costs itself only: the framing of the rest is intact."""
    packets = [encode("science", FIRST if i == 0 else LAST, i, {**SEGMENT, "OFFSET": 6 * i}, bytes([i] * 6))
               for i in range(2)]
    broken = bytearray(packets[0])
    broken[40] ^= 1
    path = tmp_path / "f.pkt"
    path.write_bytes(bytes(broken) + packets[1])
    tf = read_telemetry(path)
    assert [r.position for r in tf.rejected] == [0]
    assert [(p.position, p.data) for p in tf.packets] == [(len(packets[0]), bytes([1] * 6))]
    assert np.array_equal(np.frombuffer(tf.packets[0].data, np.uint8), [1] * 6)
