"""Optimizer checkpoints shared with the stable-adamw JavaScript packages.

Saves and loads ``torch.optim.AdamW`` and optimi ``StableAdamW`` state as safetensors files, written
by hand (torch only: no numpy, no safetensors package). The file layouts are those of
``@stable-adamw/core``'s ``stateDictToCheckpoint`` / ``checkpointToStateDict``:

* ``"torch-adamw"``: ``state.<i>.step`` (F32 scalar), ``state.<i>.exp_avg`` and
  ``state.<i>.exp_avg_sq`` (torch's biased moments), groups with torch's keys;
* ``"optimi"``: ``state.<i>.exp_avg`` / ``exp_avg_sq`` (debiased), ``kahan_comp``, ``eps_sq``,
  per-param ``step`` (I64) under gradient release, groups with optimi's keys (``beta1``, ...).

``__metadata__`` holds ``format``, ``layout``, ``param_groups`` (JSON), ``param_names`` (JSON
name -> index) and, from JavaScript, ``stable_adamw`` (ignored here).
"""

import json
import struct
import sys

import torch

__all__ = ["CheckpointError", "LAYOUTS", "load_optimizer", "read_safetensors", "save_optimizer", "write_safetensors"]

LAYOUTS = ("optimi", "torch-adamw")

_TO_NAME = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.int64: "I64",
}
_FROM_NAME = {name: dtype for dtype, name in _TO_NAME.items()}
_SIZE = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8}
# Order of the reference implementation's Dtype enum (increasing alignment).
_RANK = {"F16": 0, "BF16": 1, "F32": 2, "F64": 3, "I64": 4}
_MAX_HEADER = 100_000_000


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read: the message names the entry, the value and the fix."""


def _require_little_endian():
    if sys.byteorder != "little":
        raise CheckpointError("safetensors data is little-endian; this host is big-endian, which is not supported.")


def write_safetensors(tensors, metadata=None):
    """Encodes ``{name: tensor}`` (F64/F32/BF16/F16/I64) and optional ``{str: str}`` metadata as bytes.

    Byte for byte as the reference writer: tensors sorted by descending dtype alignment then name,
    compact JSON with ``__metadata__`` first, header padded with spaces to a multiple of 8.
    """
    _require_little_endian()
    items = []
    for name, tensor in tensors.items():
        if name == "__metadata__":
            raise CheckpointError("Tensor name `__metadata__` is reserved by the format. Rename the tensor.")
        if tensor.dtype not in _TO_NAME:
            raise CheckpointError(
                f"Tensor `{name}` has dtype {tensor.dtype}, which this module does not write. "
                "Convert it to float64, float32, bfloat16, float16 or int64."
            )
        items.append((name, _TO_NAME[tensor.dtype], tensor.detach().to("cpu").contiguous()))
    items.sort(key=lambda item: (-_RANK[item[1]], item[0].encode("utf-8")))
    fields = []
    if metadata is not None:
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise CheckpointError(f"Metadata `{key}` is {value!r}, not a string. Serialize it to a string.")
        entries = sorted(metadata.items(), key=lambda kv: kv[0].encode("utf-8"))
        fields.append('"__metadata__":{' + ",".join(json.dumps(k) + ":" + json.dumps(v) for k, v in entries) + "}")
    offset = 0
    for name, dtype, tensor in items:
        end = offset + tensor.numel() * _SIZE[dtype]
        info = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, end]}
        fields.append(json.dumps(name) + ":" + json.dumps(info, separators=(",", ":")))
        offset = end
    header = ("{" + ",".join(fields) + "}").encode("utf-8")
    header += b" " * ((8 - len(header) % 8) % 8)
    out = bytearray(8 + len(header) + offset)
    out[0:8] = struct.pack("<Q", len(header))
    out[8 : 8 + len(header)] = header
    at = 8 + len(header)
    for _, dtype, tensor in items:
        nbytes = tensor.numel() * _SIZE[dtype]
        if nbytes:
            target = torch.frombuffer(out, dtype=torch.uint8, count=nbytes, offset=at)
            target.copy_(tensor.reshape(-1).view(torch.uint8))
        at += nbytes
    return bytes(out)


def _bad(entry, problem):
    return CheckpointError(
        f"safetensors entry `{entry}` {problem}. Pass the complete bytes of a safetensors file."
    )


def read_safetensors(data):
    """Parses safetensors bytes into ``({name: tensor}, metadata or None)``, validating the whole file first."""
    _require_little_endian()
    if len(data) < 8:
        raise _bad("(header length)", f"is missing: the file has {len(data)} bytes")
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    if n > _MAX_HEADER or 8 + n > len(data):
        raise _bad("(header length)", f"is {n}, past the end of the {len(data)}-byte file or above 100 MB")
    try:
        text = bytes(data[8 : 8 + n]).decode("utf-8")
        if not text.startswith("{"):
            raise ValueError("not an object")

        def no_duplicates(pairs):
            keys = [k for k, _ in pairs]
            if len(keys) != len(set(keys)):
                raise ValueError("duplicate name")
            return dict(pairs)

        header = json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError as error:
        raise _bad("(header)", f"is not a JSON object without duplicate names ({error})") from None
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise _bad("__metadata__", "is not a string -> string map")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or info.get("dtype") not in _SIZE:
            raise _bad(name, f"has dtype {info.get('dtype') if isinstance(info, dict) else info!r}, not F64/F32/BF16/F16/I64")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _bad(name, f"has shape {shape!r}, not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise _bad(name, f"has data_offsets {offsets!r}, not [begin, end]")
        numel = 1
        for d in shape:
            numel *= d
        if offsets[1] - offsets[0] != numel * _SIZE[info["dtype"]]:
            raise _bad(name, f"spans {offsets[1] - offsets[0]} bytes but {info['dtype']} {shape} needs {numel * _SIZE[info['dtype']]}")
        entries.append((offsets[0], offsets[1], name, info["dtype"], shape))
    entries.sort()
    cursor = 0
    for begin, end, name, _, _ in entries:
        if begin != cursor:
            raise _bad(name, f"starts at {begin}, not where the previous tensor ended ({cursor})")
        cursor = end
    if 8 + n + cursor != len(data):
        raise _bad("(data)", f"is {len(data) - 8 - n} bytes but the offsets cover {cursor}")
    buffer = bytearray(data)
    tensors = {}
    for begin, end, name, dtype, shape in entries:
        if end == begin:
            tensors[name] = torch.empty(shape, dtype=_FROM_NAME[dtype])
        else:
            raw = torch.frombuffer(buffer, dtype=torch.uint8, count=end - begin, offset=8 + n + begin).clone()
            tensors[name] = raw.view(_FROM_NAME[dtype]).reshape(shape)
    return tensors, metadata


def _is_optimi(optimizer):
    return "beta1" in optimizer.defaults and "kahan_sum" in optimizer.defaults


def _layout_for(optimizer, layout):
    native = "optimi" if _is_optimi(optimizer) else "torch-adamw"
    if layout is None:
        return native
    if layout not in LAYOUTS:
        raise CheckpointError(f"Argument `layout` must be 'optimi' or 'torch-adamw'. Received: layout={layout!r}.")
    if layout != native:
        raise CheckpointError(
            f"Argument `layout` is {layout!r}, but {type(optimizer).__name__} keeps {native!r} state. "
            f"Pass layout={native!r} (the JavaScript side reads and writes both layouts)."
        )
    return layout


def _flat_params(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


def _names(optimizer, model, names):
    params = _flat_params(optimizer)
    if names is not None:
        if len(names) != len(params):
            raise CheckpointError(f"Argument `names` has {len(names)} entries but the optimizer has {len(params)} params.")
        return list(names)
    if model is None:
        return [None] * len(params)
    by_id = {id(p): name for name, p in model.named_parameters()}
    return [by_id.get(id(p)) for p in params]


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def save_optimizer(optimizer, path, layout=None, model=None, names=None, params=False):
    """Saves ``optimizer``'s state (torch AdamW or optimi StableAdamW) as a safetensors checkpoint.

    ``model`` (or ``names``, one per param in param-group order) adds a name -> index table, so the
    checkpoint loads by name; ``params=True`` stores the params too, as ``params.<name or index>``.
    """
    layout = _layout_for(optimizer, layout)
    state_dict = optimizer.state_dict()
    param_names = _names(optimizer, model, names)
    flat = _flat_params(optimizer)
    tensors = {}
    for index, state in state_dict["state"].items():
        shape = flat[index].shape
        for key, value in state.items():
            if key == "group" or key == "mean_square" or value is None:
                continue  # optimi's gradient-release group reference and Triton scratch are not state
            if key == "step":
                step = float(_jsonable(value))
                tensors[f"state.{index}.step"] = (
                    torch.tensor(step, dtype=torch.float32) if layout == "torch-adamw" else torch.tensor(int(step), dtype=torch.int64)
                )
            elif isinstance(value, torch.Tensor):
                if key == "kahan_comp" and value.dtype == torch.uint8:
                    continue  # optimi's Triton placeholder when Kahan summation is off
                tensors[f"state.{index}.{key}"] = value.reshape(shape) if value.numel() == flat[index].numel() else value
    groups = []
    for group in state_dict["param_groups"]:
        groups.append({key: _jsonable(value) for key, value in group.items() if isinstance(_jsonable(value), (bool, int, float, str, list, type(None)))})
    if params:
        for index, param in enumerate(flat):
            tensors[f"params.{param_names[index] if param_names[index] is not None else index}"] = param.detach()
    metadata = {"format": "pt", "layout": layout, "param_groups": json.dumps(groups, allow_nan=False)}
    table = {name: index for index, name in enumerate(param_names) if name is not None}
    if table:
        metadata["param_names"] = json.dumps(table)
    with open(path, "wb") as f:
        f.write(write_safetensors(tensors, metadata))


def load_optimizer(optimizer, path, layout=None, model=None, names=None, params=False):
    """Loads a safetensors checkpoint (from JavaScript or ``save_optimizer``) into ``optimizer``.

    Params are matched by name when the checkpoint has a name table and ``model``/``names`` name
    every param, else by position. ``params=True`` also copies the stored params into the model's.
    Nothing is changed when the file does not fit (a ``CheckpointError`` or torch's ValueError).
    """
    layout = _layout_for(optimizer, layout)
    with open(path, "rb") as f:
        tensors, metadata = read_safetensors(f.read())
    metadata = metadata or {}
    if metadata.get("layout") != layout:
        raise CheckpointError(
            f"Checkpoint metadata `layout` is {metadata.get('layout')!r}, but {layout!r} was asked for. "
            "Save it from JavaScript with that layout."
        )
    saved_groups = json.loads(metadata["param_groups"])
    table = json.loads(metadata.get("param_names", "{}"))
    flat = _flat_params(optimizer)
    param_names = _names(optimizer, model, names)
    if len(saved_groups) != len(optimizer.param_groups):
        raise CheckpointError(
            f"Checkpoint has {len(saved_groups)} param groups but the optimizer has {len(optimizer.param_groups)}. "
            "Construct the optimizer with the same param groups."
        )
    by_name = bool(table) and all(name is not None for name in param_names)
    target_of = {}  # saved index -> flat index here
    at = 0
    for g, (saved, group) in enumerate(zip(saved_groups, optimizer.param_groups)):
        if len(saved["params"]) != len(group["params"]):
            raise CheckpointError(
                f"Checkpoint group {g} has {len(saved['params'])} params but the optimizer's has {len(group['params'])}."
            )
        for k in range(len(group["params"])):
            saved_index = saved["params"][k]
            if by_name:
                saved_index = table.get(param_names[at])
                if saved_index not in saved["params"]:
                    raise CheckpointError(f"Checkpoint has no param named {param_names[at]!r} in group {g}.")
            target_of[saved_index] = at
            at += 1
    state = {}
    stored_params = {}
    for name, tensor in tensors.items():
        if name.startswith("params."):
            stored_params[name[len("params.") :]] = tensor
            continue
        _, index, key = name.split(".", 2)
        if int(index) not in target_of:
            raise CheckpointError(f"Checkpoint tensor `{name}` refers to a param no group lists.")
        target = target_of[int(index)]
        entry = state.setdefault(target, {})
        if key == "step":
            entry[key] = (
                torch.tensor(float(tensor.item()), dtype=torch.float32)
                if layout == "torch-adamw"
                else torch.tensor(int(tensor.item()), dtype=torch.int32)
            )
        else:
            param = flat[target]
            entry[key] = tensor.reshape(param.shape) if tensor.numel() == param.numel() else tensor
    new_groups = []
    at = 0
    for saved, group in zip(saved_groups, optimizer.param_groups):
        merged = {key: value for key, value in group.items() if key != "params"}
        merged.update({key: value for key, value in saved.items() if key != "params"})
        if "betas" in merged:
            merged["betas"] = tuple(merged["betas"])
        if layout == "optimi":
            merged["step"] = torch.tensor(int(saved.get("step", 0)), dtype=torch.int32)
            if "setup" not in saved and int(saved.get("step", 0)) > 0:
                merged["setup"] = True  # optimi resets a group's step on its first step() unless set up
            for index in range(at, at + len(group["params"])):
                if index in state:
                    entry = state[index]
                    entry.setdefault("kahan_comp", None)
                    if "eps_sq" not in entry:
                        entry["eps_sq"] = torch.tensor(merged["eps"] ** 2, dtype=flat[index].dtype)
        merged["params"] = list(range(at, at + len(group["params"])))
        at += len(group["params"])
        new_groups.append(merged)
    optimizer.load_state_dict({"state": state, "param_groups": new_groups})
    if layout == "optimi":
        for group in optimizer.param_groups:
            if group.get("gradient_release"):
                for param in group["params"]:
                    optimizer.state[param]["group"] = group
    if params:
        saved_names = {index: name for name, index in table.items()}
        with torch.no_grad():
            for saved_index, target in target_of.items():
                key = saved_names.get(saved_index, str(saved_index))
                if key in stored_params:
                    flat[target].copy_(stored_params[key].reshape(flat[target].shape))
