"""Level 0: CCSDS telemetry to Level 1 raw products, and a downlink simulator to test it.

packets.yaml   the packet definitions (APIDs, fields, CRC, time)
packets.py     the layout read from it, and the packet writer
tags.py        exposure tags and --tag patterns
decode.py      telemetry files read with ccsdspy: packets with file and byte position
streams.py     one exposure's segments put back together: order, duplicates, gaps
downlink.py    `calpipe sim telemetry`: raw products to telemetry files, with faults
extract.py     `calpipe level0 extract`: telemetry files to raw products, faults reported
"""
