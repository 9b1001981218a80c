"""The ONNX front end: `importer.import_onnx(path, input_shapes)` returns an `nn`-dialect module."""
