"""Front end: ONNX models to the `nn` dialect."""
