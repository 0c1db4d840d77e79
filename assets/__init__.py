"""Not code: the repository's assets/ folder, shipped in the wheel as the data package
``mmsynth.assets`` (only the COCO sample the coco source reads by default; see pyproject.toml).
"""
