"""facetcoder: facet joint injection and medial branch block notes -> checked claim lines.

``from extractor import process_note`` is the public entry point. The pipeline (and spaCy) is imported on
first use, so tools that only need the schema start fast.
"""

__version__ = "0.1.0"

__all__ = ["InputError", "process_batch", "process_note", "process_notes", "__version__"]


def __getattr__(name: str):
    if name in ("InputError", "process_note", "process_notes"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "process_batch":
        from .batch import process_batch

        return process_batch
    raise AttributeError(f"module 'extractor' has no attribute {name!r}")
