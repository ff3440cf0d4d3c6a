import pytest

from avremix.data import synth


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory):
    """A small procedural synth corpus (needs no Debian asset)."""
    root = tmp_path_factory.mktemp("synth")
    summary = synth.build(root, n_clips=4, seed=3, config=synth.SynthConfig(duration=4.0, sources="procedural"), jobs=2)
    assert not summary.failed, summary.failed
    return root
