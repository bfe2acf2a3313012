#!/usr/bin/python3
"""Validates NWB files against the official NWB core schema with HDMF's validator (what pynwb's validator runs).

Usage: validate_nwb.py SCHEMA_DIR FILE.nwb...
SCHEMA_DIR holds nwb-schema-2.7.0/core and hdmf-common-schema-1.8.0/common (unmodified official YAML).
Prints one line per problem and exits 1 if any file has one; prints "<file>: valid" for each valid file.

pynwb is not packaged in Debian, but python3-hdmf is. pynwb adds only this to HDMF for validation: NWB's YAML names
types with neurodata_type_def / neurodata_type_inc and lists them under neurodata_types, and an NWB file stores each
object's type in its neurodata_type attribute. The small subclasses below say so, as pynwb's spec.py does.
"""
import os
import sys

from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import BuildManager, TypeMap
from hdmf.spec import DatasetSpec, GroupSpec, LinkSpec, NamespaceCatalog, SpecNamespace
from hdmf.validate import ValidatorMap


def _translate(kwargs):
    for nwb_key, key in (("neurodata_type_def", "data_type_def"), ("neurodata_type_inc", "data_type_inc")):
        if nwb_key in kwargs:
            kwargs[key] = kwargs.pop(nwb_key)
    return kwargs


class NWBLinkSpec(LinkSpec):
    pass


class NWBStorageKeys:
    """What pynwb's BaseStorageOverride says: NWB's names for the type keys (mixed into both spec classes)."""

    @classmethod
    def type_key(cls):
        return "neurodata_type"

    @classmethod
    def inc_key(cls):
        return "neurodata_type_inc"

    @classmethod
    def def_key(cls):
        return "neurodata_type_def"

    @classmethod
    def build_const_args(cls, spec_dict):
        return _translate(super().build_const_args(spec_dict))


class NWBDatasetSpec(NWBStorageKeys, DatasetSpec):
    pass


class NWBGroupSpec(NWBStorageKeys, GroupSpec):
    @classmethod
    def dataset_spec_cls(cls):
        return NWBDatasetSpec

    @classmethod
    def link_spec_cls(cls):
        return NWBLinkSpec


class NWBNamespace(SpecNamespace):
    @classmethod
    def types_key(cls):
        return "neurodata_types"


def catalog(schema_dir):
    namespaces = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)
    namespaces.load_namespaces(os.path.join(schema_dir, "hdmf-common-schema-1.8.0", "common", "namespace.yaml"))
    namespaces.load_namespaces(os.path.join(schema_dir, "nwb-schema-2.7.0", "core", "nwb.namespace.yaml"))
    return namespaces


def validate(namespaces, path):
    manager = BuildManager(TypeMap(namespaces))
    with HDF5IO(path, mode="r", manager=manager) as io:
        builder = io.read_builder()
        return ValidatorMap(namespaces.get_namespace("core")).validate(builder)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    namespaces = catalog(argv[1])
    bad = 0
    for path in argv[2:]:
        errors = validate(namespaces, path)
        if errors:
            bad += 1
            for error in errors:
                print(f"{path}: {error}")
        else:
            print(f"{path}: valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
