"""Learn from a few labeled images, predict the rest, say how sure the model is, and audit human labels.

The pieces, one concern per module:

- :mod:`~seglab.autolabel.features`: multiscale pixel features (OpenCV filters, vectorised);
- :mod:`~seglab.autolabel.pixel_classifier`: the built-in LightGBM ensemble with auto-context, trained
  from full masks, polygons or scribbles, predicting in tiles;
- :mod:`~seglab.autolabel.backends`: the backend interface, the ONNX Runtime backend and the PyTorch
  (TorchScript) backend of the optional ``torch`` extra;
- :mod:`~seglab.autolabel.instances`: probabilities to stuff regions and split thing instances, as
  model annotations with score and uncertainty;
- :mod:`~seglab.autolabel.uncertainty` and :mod:`~seglab.autolabel.calibration`: per pixel, object and
  image; ECE, reliability diagrams, temperature and isotonic scaling;
- :mod:`~seglab.autolabel.audit`, :mod:`~seglab.autolabel.checks` (model-free) and
  :mod:`~seglab.autolabel.report`: likely human-label errors and a page to review them;
- :mod:`~seglab.autolabel.selection`: which images to label next;
- :mod:`~seglab.autolabel.model_io`: model files without pickle, refused when not ours or tampered.
"""

from seglab.autolabel.audit import AuditOptions, AuditResult, Suspect, SuspectKind, audit_dataset
from seglab.autolabel.backends import (
    ClassInfo,
    ModelError,
    OnnxBackend,
    Prediction,
    SegmentationBackend,
    TorchBackend,
    checked_predict,
    classes_from_ontology,
)
from seglab.autolabel.calibration import (
    IsotonicCalibration,
    TemperatureScaling,
    expected_calibration_error,
    reliability_curve,
    reliability_diagram,
)
from seglab.autolabel.features import FeatureConfig, compute_features
from seglab.autolabel.instances import InstanceOptions, annotations_from_prediction, instance_map
from seglab.autolabel.model_io import load_model, save_model
from seglab.autolabel.pixel_classifier import PixelClassifier, TrainConfig, label_map, train_pixel_classifier
from seglab.autolabel.selection import Suggestion, image_descriptor, suggest
from seglab.autolabel.uncertainty import (
    ImageUncertainty,
    ObjectUncertainty,
    PixelUncertainty,
    image_uncertainty,
    objects_uncertainty,
    pixel_uncertainty,
)

__all__ = [
    "AuditOptions",
    "AuditResult",
    "ClassInfo",
    "FeatureConfig",
    "ImageUncertainty",
    "InstanceOptions",
    "IsotonicCalibration",
    "ModelError",
    "ObjectUncertainty",
    "OnnxBackend",
    "PixelClassifier",
    "PixelUncertainty",
    "Prediction",
    "SegmentationBackend",
    "Suggestion",
    "Suspect",
    "SuspectKind",
    "TemperatureScaling",
    "TorchBackend",
    "TrainConfig",
    "annotations_from_prediction",
    "audit_dataset",
    "checked_predict",
    "classes_from_ontology",
    "compute_features",
    "expected_calibration_error",
    "image_descriptor",
    "image_uncertainty",
    "instance_map",
    "label_map",
    "load_model",
    "objects_uncertainty",
    "pixel_uncertainty",
    "reliability_curve",
    "reliability_diagram",
    "save_model",
    "suggest",
    "train_pixel_classifier",
]
