"""seglab: turn raw images into trustworthy ground truth for computer vision."""

__version__ = "0.1.0"
