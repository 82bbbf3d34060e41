"""QA-CLIMS: weakly supervised semantic segmentation from image-level labels."""

__version__ = "0.1.0"
