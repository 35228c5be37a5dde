"""The catalog's YAML files read through typed models (catalog/data.py): a misspelt key fails at the first
read with its path, and numbers keep the type the file wrote, so a rendered figure does not change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

import catalog
from catalog import data
from catalog.node_model import gcsfuse_sidecar, headroom

CATALOG = Path(catalog.__file__).parent


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("machines.yaml", data.MachinesYaml),
        ("gke_node.yaml", data.GkeNodeYaml),
        ("load_paths.yaml", data.LoadPathsYaml),
        ("reserved_env.yaml", data.ReservedEnvYaml),
    ],
)
def test_every_file_reads_and_a_misspelt_key_names_its_path(name: str, model: type[data.CatalogYaml]) -> None:
    written = yaml.safe_load((CATALOG / name).read_text())
    model.model_validate(written)
    first = next(iter(written))
    written[first + "Typo"] = written.pop(first)
    with pytest.raises(ValidationError) as refused:
        model.model_validate(written)
    locations = {".".join(map(str, e["loc"])) for e in refused.value.errors()}
    assert {first + "Typo", first} <= locations  # the unknown key, and the one it should have been


def test_a_gpu_entry_with_an_unknown_key_is_refused() -> None:
    entry = dict(yaml.safe_load((CATALOG / "gpus.yaml").read_text())["nvidia-l4"], memoryGB=24)
    with pytest.raises(ValidationError, match="memoryGB"):
        data.GpuYaml.model_validate(entry)


def test_whole_numbers_stay_whole() -> None:
    # A machine's memory written as 32 renders as 32, not 32.0: the reading does not coerce it to a float.
    assert type(catalog.machine_types()["g2-standard-8"].memory_gb) is int
    assert type(data.gke_node_yaml().boot_disk.os_fixed_gib) is float  # written 4.148
    assert type(headroom().cpu_milli) is int


def test_the_sidecar_requests_come_in_the_files_order() -> None:
    written = yaml.safe_load((CATALOG / "gke_node.yaml").read_text())["gcsfuseSidecar"]
    assert gcsfuse_sidecar() == written["serving"]
    assert list(gcsfuse_sidecar("defaults")) == list(written["defaults"])


def test_read_gives_an_object_to_narrow() -> None:
    regions = catalog.read("regions.yaml")
    assert isinstance(regions, dict)
    assert catalog.regions()["us-central1"] == tuple(f"us-central1-{z}" for z in regions["us-central1"])
