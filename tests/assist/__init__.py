"""Tests of seglab.assist: interactive segmentation from clicks, strokes and boxes."""
