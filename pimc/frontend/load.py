"""Read an ONNX file and tell apart the ways it can be unreadable: missing, truncated, not ONNX, corrupt.

    model = load_onnx("model.onnx")   # DiagnosticError: "truncated ONNX file: it ends inside field 'graph'"
"""

from __future__ import annotations

import os

from pimc.diagnostics import Diagnostic, DiagnosticError, UsageError

# ModelProto's fields: number -> (name, protobuf wire type: 0 varint, 2 length-delimited).
_MODEL_FIELDS = {
    1: ("ir_version", 0), 2: ("producer_name", 2), 3: ("producer_version", 2), 4: ("domain", 2),
    5: ("model_version", 0), 6: ("doc_string", 2), 7: ("graph", 2), 8: ("opset_import", 2),
    14: ("metadata_props", 2), 20: ("training_info", 2), 25: ("functions", 2), 26: ("configuration", 2),
}


def error(message: str) -> DiagnosticError:
    """An error about the model as a whole: `model.onnx: error: message`."""
    return DiagnosticError(Diagnostic(message))


def check_input(path: str | None, flag: str = "", directory: bool = False) -> None:
    """A UsageError (exit 2) unless `path` names an existing file (or, with `directory`, a directory)."""
    if path is None:
        return
    named = f"{flag} '{path}'" if flag else f"'{path}'"
    if not path:
        raise UsageError(f"{flag or 'the input'}: the path is empty; name a {'directory' if directory else 'file'}")
    if not os.path.exists(path):
        raise UsageError(f"cannot read {named}: no such {'directory' if directory else 'file'}")
    if directory and not os.path.isdir(path):
        raise UsageError(f"{named} is a file; give a directory")
    if not directory and os.path.isdir(path):
        raise UsageError(f"{named} is a directory; give a file")


def check_arrays(path: str | None, flag: str) -> None:
    """`path` is readable as .npy or .npz, every array included: else a UserError (exit 1), before any work."""
    import numpy as np

    from pimc.diagnostics import UserError

    if not path:
        return
    check_input(path, flag)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            with loaded:
                for name in loaded.files:
                    loaded[name]
    except Exception as failure:  # numpy and zipfile raise OSError, ValueError, EOFError, BadZipFile, ...
        raise UserError(f"{flag} {path}: not a readable .npy or .npz file ({first_line(failure, 120)})") from None


def load_onnx(path: str):
    """The ModelProto in `path`, external data included; a DiagnosticError says why it cannot be read."""
    import onnx
    from google.protobuf.message import DecodeError

    with open(path, "rb") as file:
        data = file.read()
    try:
        model = onnx.load_model_from_string(data)
    except DecodeError:
        raise error(_undecodable(data)) from None
    if not data:
        raise error("not an ONNX model: the file is empty")
    if not model.HasField("graph"):
        raise error("not an ONNX model: it has no graph")
    try:
        onnx.external_data_helper.load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
    except (OSError, ValueError, onnx.checker.ValidationError) as failure:
        raise error(f"cannot load external data: {first_line(failure)}") from None
    return model


def load_inlined(path: str):
    """The ONNX model at `path` with its local functions inlined: pimc imports that graph, so its tensors
    are the ones to compare."""
    model = load_onnx(path)
    if model.functions:
        import onnx.inliner

        model = onnx.inliner.inline_local_functions(model)
    return model


def first_line(failure: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, without onnx's trailing context, cut at `limit` characters."""
    text = " ".join(str(failure).split("==> Context")[0].split()) or type(failure).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _undecodable(data: bytes) -> str:
    """Why protobuf rejected `data`: walk ModelProto's top-level fields to find where it breaks."""
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _varint(data, pos)
        if tag is None:
            return f"truncated ONNX file: it ends inside a field tag at byte {start}"
        field, wire = _MODEL_FIELDS.get(tag >> 3, (None, None))
        if field is None or wire != tag & 7:
            return f"not an ONNX model: the bytes at offset {start} do not start a ModelProto field"
        value, pos = _varint(data, pos)
        if value is None or (wire == 2 and pos + value > len(data)):
            return f"truncated ONNX file: it ends inside field '{field}' ({len(data)} bytes read)"
        pos += value if wire == 2 else 0
    return "corrupt ONNX model: its fields are complete but their contents do not decode"


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos
