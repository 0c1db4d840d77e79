"""Not code: the repository's configs/ folder, shipped in the wheel as the data package
``mmsynth.configs`` (only its prompts/*.yaml, which the coco source reads; see pyproject.toml).
"""
