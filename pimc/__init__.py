"""pimc: a compiler from ONNX models to crossbar processing-in-memory accelerators."""

__version__ = "0.1.0"
