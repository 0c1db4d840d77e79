"""One small real coco run (the embedded LLM on the CPU), shared by the coco tests that read its
output: the source's own checks and the preview/export checks."""

import pytest

from mmsynth.run import run

FAST = {"types": "detail,conversation", "llm_max_new_tokens": 48, "progress": False,
        "shard_size": 2}


@pytest.fixture(scope="session")
def coco_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("coco")
    summary = run({"source": "coco", "num_samples": 3, "out": str(out), "seed": 1, **FAST})
    return out, summary
