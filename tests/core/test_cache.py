"""The stage cache: entries are checked by sha256 on every read; damaged ones are recomputed, never trusted."""

import json
import os
import subprocess
import sys

import pytest
from tmpfs import fill, mounted

from edgekit.core.cache import ENTRY_FILE, Store, digest
from edgekit.core.errors import EdgekitError


def put(store: Store, key: str = "k" * 64, payload: bytes = b"weights") -> None:
    folder = store.staging("teacher")
    (folder / "model").mkdir()
    (folder / "model" / "model.safetensors").write_bytes(payload)
    store.commit("teacher", key, folder, {"metrics": {"top1": 90.0}}, {"node": "teacher", "describe": "train"})


def test_an_entry_reads_back_with_its_record_and_files(tmp_path):
    store = Store(tmp_path)
    put(store)
    entry = store.lookup("teacher", "k" * 64)
    assert entry.record == {"metrics": {"top1": 90.0}}
    assert entry.file("model/model.safetensors").read_bytes() == b"weights"
    assert store.lookup("teacher", "x" * 64) is None
    assert not list(tmp_path.glob("teacher/.staging-*"))  # the staging folder became the entry


@pytest.mark.parametrize("damage", [
    lambda folder: (folder / "model" / "model.safetensors").write_bytes(b"weightz"),  # same size, other bytes
    lambda folder: (folder / "model" / "model.safetensors").write_bytes(b"w"),  # truncated
    lambda folder: (folder / "model" / "model.safetensors").unlink(),
    lambda folder: (folder / ENTRY_FILE).write_text((folder / ENTRY_FILE).read_text()[:40]),  # torn JSON
    lambda folder: (folder / ENTRY_FILE).write_text(
        (folder / ENTRY_FILE).read_text().replace('"top1": 90.0', '"top1": 99.0')),  # a hand-edited record
])
def test_a_damaged_entry_is_removed_and_missed(tmp_path, damage, capsys):
    store = Store(tmp_path)
    put(store)
    damage(tmp_path / "teacher" / ("k" * 64))
    assert store.lookup("teacher", "k" * 64) is None
    assert not (tmp_path / "teacher" / ("k" * 64)).exists()
    assert "damaged" in capsys.readouterr().err


def test_staging_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    store = Store(tmp_path)
    mine = store.staging("export")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "export" / f".staging-{dead.stdout.strip()}-abc").mkdir()
    assert store.remove_stale_staging() == 1
    assert mine.exists() and len(list((tmp_path / "export").iterdir())) == 1


def test_no_cache_keeps_entries_for_this_run_only(tmp_path):
    store = Store(tmp_path / "unused", enabled=False)
    put(store)
    assert store.lookup("teacher", "k" * 64) is not None and not (tmp_path / "unused").exists()
    store.close()
    assert not store.root.exists()


def test_a_cache_path_that_is_a_file_is_one_clear_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(EdgekitError, match="is not a folder; set EDGEKIT_CACHE"):
        Store(tmp_path / "file" / "stages").check_usable()


def test_keys_are_stable_and_order_free():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1}) != digest({"a": 2, "b": [1, 2]})


def test_a_full_cache_is_one_line_with_the_space_left(tmp_path):
    with mounted(tmp_path / "small", "256k") as mount:
        store = Store(mount)
        folder = store.staging("export")
        (folder / "m.onnx").write_bytes(b"x" * 1000)
        fill(mount, 0)  # the disk fills up before the entry is committed
        with pytest.raises(EdgekitError, match=r"MiB free"):
            store.commit("export", "k" * 64, folder, {"metrics": {}}, {})
        assert store.lookup("export", "k" * 64) is None  # nothing half-written is taken for an entry


def test_cache_ls_and_clear(cli, tmp_path):
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache")}
    store = Store(tmp_path / "cache" / "stages")
    put(store)
    put(store, key="j" * 64)
    listed = cli("cache", "ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["stage"], r["what"]) for r in rows] == [("teacher", "train")] * 2 and rows[0]["size_bytes"] > 0
    cleared = cli("cache", "clear", "--stage", "teacher", env=env)
    assert cleared.returncode == 0 and "removed 2 entries" in cleared.stderr
    assert json.loads(cli("cache", "ls", "--json", env=env).stdout) == []
    assert os.path.isdir(tmp_path / "cache" / "stages")
