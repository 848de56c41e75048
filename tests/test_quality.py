"""Quality against gensim on the Wikipedia sample gensim ships (about a minute)."""
import pytest

from torch_w2v.datasets import wiki_sample
from torch_w2v.evaluate import compare

TOLERANCE = {"analogy": 0.01, "wordsim353": 0.03, "simlex999": 0.03}


@pytest.mark.slow
def test_quality_matches_gensim_on_wiki_sample():
    # one worker each: both trainers are then deterministic, so this test cannot flake
    result = compare(wiki_sample(), rounds=1, workers=1, corpus_name="wiki sample")
    ours, ref = result["results"]["torch_w2v"], result["results"]["gensim"]
    assert ours["vocab_size"] == ref["vocab_size"]
    for metric, tol in TOLERANCE.items():
        assert ours[metric] >= ref[metric] - tol, (metric, ours[metric], ref[metric])
