"""Dataset formats: one module per format, each a symmetric read/write pair, listed in :mod:`.registry`."""

from seglab.formats.base import ErrorPolicy, FormatSpec, LossReport, ReadOptions, WriteOptions
from seglab.formats.registry import detect, get_format, list_formats, read_dataset, write_dataset

__all__ = [
    "ErrorPolicy",
    "FormatSpec",
    "LossReport",
    "ReadOptions",
    "WriteOptions",
    "detect",
    "get_format",
    "list_formats",
    "read_dataset",
    "write_dataset",
]
