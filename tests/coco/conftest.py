"""The coco tests' settings; their shared real run (``coco_run``) lives in tests/conftest.py,
where tests outside this folder (the sample schema's) read it too."""

from tests.conftest import COCO_FAST as FAST  # noqa: F401
