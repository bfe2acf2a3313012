"""Reads an NWB file written by Bench with h5py (an independent HDF5 reader) and prints one JSON object of what it
found, for Bench.Storage.Tests to assert on. Usage: read_nwb.py FILE.nwb"""
import json
import math
import sys

import h5py
import numpy as np


def plain(value):
    """numpy and bytes values as JSON-able Python values."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None  # JSON has no NaN: a model value never computed reads as null
    return value


def attrs(obj):
    return {k: plain(v) for k, v in obj.attrs.items()}


def text(dataset):
    return plain(dataset.asstr()[()])


def link(group, name):
    """The target of a soft link, or None when the member is not a soft link."""
    l = group.get(name, getlink=True)
    return l.path if isinstance(l, h5py.SoftLink) else None


def series(group, rate):
    data = group["data"]
    values = data[()]
    # NWB's two ways to give time: starting_time and rate for evenly spaced samples, or a timestamp per sample.
    if "timestamps" in group:
        ts = group["timestamps"]
        times = ts[()]
        timing = {
            "timestamps_dtype": str(ts.dtype),
            "timestamps_length": int(ts.shape[0]),
            "timestamps_attrs": attrs(ts),
            "timestamps_link": link(group, "timestamps"),
        }
    else:
        start = group["starting_time"]
        series_rate = float(start.attrs["rate"])
        times = float(start[()]) + np.arange(values.shape[0]) / series_rate
        timing = {"starting_time": float(start[()]), "starting_time_attrs": attrs(start), "timestamps_link": None}
    out = {
        "dtype": str(data.dtype),
        "length": int(data.shape[0]),
        "attrs": attrs(data),
        "attrs_types": {k: str(np.asarray(v).dtype) for k, v in data.attrs.items()},
        "chunks": list(data.chunks) if data.chunks else None,
        "compression": data.compression,
        "shuffle": bool(data.shuffle),
        "first": plain(values[:3]),
        "last": plain(values[-1]) if len(values) else None,
        "sum": float(np.nansum(values, dtype=np.float64)),
        "nan_count": int(np.count_nonzero(np.isnan(values))) if values.dtype.kind == "f" else 0,
        "first_time": plain(times[0]) if len(times) else None,
        "last_time": plain(times[-1]) if len(times) else None,
        "times_increasing": bool(np.all(np.diff(times) > 0)),
        "group_attrs": attrs(group),
    }
    out.update(timing)
    if rate and len(times) > 1:
        # Where the time jumps by more than one sample period: the gaps, seen from the data alone.
        jumps = np.nonzero(np.diff(times) > 1.5 / rate)[0]
        out["jumps"] = [{"index": int(i), "before": float(times[i]), "after": float(times[i + 1])} for i in jumps]
    return out


def table(group):
    colnames = plain(group.attrs["colnames"])
    rows = []
    n = group["id"].shape[0]
    columns = {c: group[c][()] for c in colnames}
    for i in range(n):
        rows.append({c: plain(columns[c][i]) for c in colnames})
    return {
        "attrs": attrs(group),
        "colnames": colnames,
        "ids": plain(group["id"][()]),
        "id_type": group["id"].attrs["neurodata_type"],
        "column_types": {c: plain(group[c].attrs["neurodata_type"]) for c in colnames},
        "column_dtypes": {c: str(group[c].dtype) for c in colnames},
        "rows": rows,
    }


def main(path):
    f = h5py.File(path, "r")
    types = {}
    namespaces = {}
    object_ids = []

    def visit(name, obj):
        if "neurodata_type" in obj.attrs:
            types["/" + name] = plain(obj.attrs["neurodata_type"])
            namespaces["/" + name] = plain(obj.attrs["namespace"])
            object_ids.append(plain(obj.attrs["object_id"]))

    f.visititems(visit)
    object_ids.append(plain(f.attrs["object_id"]))
    rate = float(f["general/data_collection"].attrs["sample_rate_hz"])

    out = {
        "root_attrs": {k: v for k, v in attrs(f).items() if k != "object_id"},
        "root_object_id": plain(f.attrs["object_id"]),
        "identifier": text(f["identifier"]),
        "session_description": text(f["session_description"]),
        "session_start_time": text(f["session_start_time"]),
        "timestamps_reference_time": text(f["timestamps_reference_time"]),
        "file_create_date": plain(f["file_create_date"].asstr()[()]),
        "top_level": sorted(f.keys()),
        "types": types,
        "namespaces": namespaces,
        "object_ids": len(object_ids),
        "unique_object_ids": len(set(object_ids)),
        "data_collection": text(f["general/data_collection"]),
        "data_collection_attrs": attrs(f["general/data_collection"]),
        "protocol": text(f["general/stimulus"]) if "stimulus" in f["general"] else None,
        "devices": {name: attrs(g) for name, g in f["general/devices"].items()},
        "electrode_description": text(f["general/intracellular_ephys/electrode/description"]),
        "electrode_device_link": link(f["general/intracellular_ephys/electrode"], "device"),
        "electrode_device_board_attrs": attrs(f["general/intracellular_ephys/electrode/device"]),
        "membrane": series(f["acquisition/membrane_potential"], rate),
        "membrane_electrode_link": link(f["acquisition/membrane_potential"], "electrode"),
        "stimulus_templates": sorted(f["stimulus/templates"].keys()),
        "intervals": {name: table(g) for name, g in f["intervals"].items()},
    }
    if "stimulus" in f["stimulus/presentation"]:
        out["stimulus"] = series(f["stimulus/presentation/stimulus"], rate)
        out["stimulus_electrode_link"] = link(f["stimulus/presentation/stimulus"], "electrode")
    if "comparison" in f["processing"]:
        out["processing_attrs"] = attrs(f["processing/comparison"])
        out["model"] = series(f["processing/comparison/model_prediction"], rate)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
