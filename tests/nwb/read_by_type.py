#!/usr/bin/python3
"""Reads an NWB file the way a reader that knows only NWB does: HDMF's reader with the official schema, finding
objects by their NWB type (CurrentClampSeries, CurrentClampStimulusSeries, TimeIntervals), never by Bench's paths or
attributes. Prints one JSON object: the membrane potential in volts with its times, the stimulus in amperes, the
stimulus events and the invalid (lost) times. Usage: read_by_type.py SCHEMA_DIR FILE.nwb
"""
import json
import os
import sys

import numpy as np
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import BuildManager, GroupBuilder, TypeMap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validate_nwb import catalog  # noqa: E402  (the same NWB type keys pynwb uses)


def typed(builder, type_name, found=None):
    """Every group builder of the NWB type given, anywhere in the file."""
    found = [] if found is None else found
    if builder.attributes.get("neurodata_type") == type_name:
        found.append(builder)
    for child in builder.groups.values():
        typed(child, type_name, found)
    return found


def values(dataset_builder):
    data = dataset_builder.data
    return np.asarray(data[()] if hasattr(data, "shape") else data)


def times(series, n):
    """NWB's two ways to give time: a timestamp per sample, or starting_time and its rate."""
    if "timestamps" in series.datasets:
        return values(series.datasets["timestamps"])
    if "timestamps" in series.links:
        return values(series.links["timestamps"].builder)
    start = series.datasets["starting_time"]
    return float(values(start)) + np.arange(n) / float(start.attributes["rate"])


def series(builder):
    data = builder.datasets["data"]
    raw = values(data).astype(np.float64)
    conversion = float(data.attributes.get("conversion", 1.0))
    offset = float(data.attributes.get("offset", 0.0))
    si = raw * conversion + offset
    t = times(builder, len(si))
    return {"unit": data.attributes["unit"], "n": len(si), "first": si[:3].tolist(), "t_first": t[:3].tolist(),
            "t_last": float(t[-1]) if len(t) else None, "sum": float(np.sum(si)), "max": float(np.max(si)) if len(si) else None,
            "t_of_max": float(t[int(np.argmax(si))]) if len(si) else None}


def table(builder):
    columns = {}
    for name, ds in builder.datasets.items():
        if name != "id":
            columns[name] = values(ds).tolist()
    return columns


def main(schema_dir, path):
    manager = BuildManager(TypeMap(catalog(schema_dir)))
    with HDF5IO(path, mode="r", manager=manager) as io:
        root = io.read_builder()
        assert isinstance(root, GroupBuilder)
        membrane = typed(root, "CurrentClampSeries")
        stimulus = typed(root, "CurrentClampStimulusSeries")
        intervals = {b.name: table(b) for b in typed(root, "TimeIntervals")}
        out = {
            "membrane": [series(b) for b in membrane],
            "stimulus": [series(b) for b in stimulus],
            "intervals": intervals,
            "session_start_time": str(values(root.datasets["session_start_time"])),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
