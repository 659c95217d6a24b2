"""`manual.save(model, path)` / `manual.load(model, path)`: a model's state_dict as a NumPy `.npz` archive.

The archive holds one array per state_dict key ("0.weight", "1.running_mean", ...), in state_dict order,
with its dtype and shape, so a round trip is bit-identical. It is written to exactly `path` (no ".npz" is
appended). `load` goes through `load_state_dict(strict=True)`: values are cast to the model's dtypes within
their kind, as torch's `load_state_dict` does, so a float32 archive loaded into a float64 model is widened
exactly (and the other way round rounded). `compare.convert` turns these archives into torch `.pt` files and back.

The archive is written the way `np.savez` writes it (one uncompressed `KEY.npy` member per array), but by hand:
`np.savez(file, **state_dict)` cannot save a key named `file` or `allow_pickle` (its own parameters). Saving is
atomic (`manual.atomic`): a save that fails for any reason (a bad argument, `state_dict` raising, an array that
cannot be written, Ctrl-C, a full disk) leaves the file that was at `path` byte for byte as it was; a save
killed outright leaves a temporary file that the next save of `path` removes.

Loading reads only what `save` writes, and checks the archive before it reads any array data, so a hostile or
broken file costs at most its own size in memory and runs no code:
- the zip directory: every member a `KEY.npy`, each name once (a duplicate would load whichever comes last),
  stored, not compressed or encrypted (a compressed member can expand to any size), and together no larger
  than the file;
- every member's `.npy` header (version 1.0 or 2.0, `allow_pickle=False`): a plain numeric dtype and a shape
  whose bytes are exactly the bytes the member holds (a header claiming a (10**6, 10**6) array is refused
  with nothing allocated);
- for `load(model, path)`: the keys, shapes and dtypes against the model's (a missing or unexpected key, a
  shape mismatch, or a dtype of another kind, such as a float into an int64 counter, is refused).
Every refusal names the path (and the key); a file that is not such an archive (empty, truncated, a `.npy`
file, a torch `.pt` file) raises `CheckpointError`, a mismatch with the model raises RuntimeError as torch does.
Nothing is loaded into the model unless everything passed.
"""
from __future__ import annotations

import collections
import contextlib
import math
import os
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from manual.atomic import atomic_write

NPY_MAGIC = b"\x93NUMPY"
NUMERIC_KINDS = "biufc"  # bool, int, unsigned, float, complex: what a state_dict holds


class CheckpointError(ValueError):
    """A file that is not an archive `manual.save` writes; the message names the path."""


@dataclass(frozen=True)
class Member:
    """One `KEY.npy` member, as its zip entry and .npy header describe it."""
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype


def save(model, path: str | os.PathLike) -> None:
    """Write `model.state_dict()` to `path` as an uncompressed .npz archive."""
    save_state_dict(model.state_dict(), path)


def save_state_dict(state_dict, path: str | os.PathLike) -> None:
    """Write a state_dict (key -> array) to `path` as an uncompressed .npz archive, atomically."""
    arrays = {key: np.asarray(value) for key, value in state_dict.items()}
    with atomic_write(path) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The archive's arrays by key, in the order they were saved (checked as the module docstring says)."""
    with _open(path) as (archive, members):
        return _read_arrays(archive, members, path)


def load(model, path: str | os.PathLike):
    """Load the archive at `path` into `model` (strict) and return the model."""
    expected = {key: (value.shape, value.dtype) for key, value in model.state_dict().items()}
    with _open(path) as (archive, members):
        _check_against(expected, members, path, type(model).__name__)
        arrays = _read_arrays(archive, members, path)
    model.load_state_dict(arrays)
    return model


# -- reading, checked ---------------------------------------------------------------------------------
def _refusal(path, reason: str) -> CheckpointError:
    return CheckpointError(f"cannot load {os.fspath(path)!r}: {reason}")


@contextlib.contextmanager
def _reading(path, what: str) -> Iterator[None]:
    """Errors of zipfile and numpy's .npy reader (bare BadZipFile, EOFError, ...) as a CheckpointError."""
    try:
        yield
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error, OSError) as error:
        raise _refusal(path, f"{what}: {type(error).__name__}: {error}") from error


@contextlib.contextmanager
def _open(path) -> Iterator[tuple[zipfile.ZipFile, dict[str, Member]]]:
    with open(path, "rb") as file:
        start = file.read(len(NPY_MAGIC))
        if not start:
            raise _refusal(path, "the file is empty (0 bytes)")
        if start == NPY_MAGIC:
            raise _refusal(path, "it is a .npy file (one array); manual.load reads a .npz archive of named "
                                 "arrays, as manual.save writes")
        file.seek(0)
        with _reading(path, "not a .npz archive (truncated, or another kind of file?)"):
            archive = zipfile.ZipFile(file)
        with archive:
            yield archive, _members(archive, path, os.fstat(file.fileno()).st_size)


def _members(archive: zipfile.ZipFile, path, file_size: int) -> dict[str, Member]:
    infos = archive.infolist()
    counts = collections.Counter(info.filename for info in infos)
    duplicated = [name for name, count in counts.items() if count > 1]
    if duplicated:
        raise _refusal(path, f"the archive holds {duplicated} more than once (manual.save writes each key once; "
                             f"which copy is meant is ambiguous)")
    foreign = [name for name in counts if not name.endswith(".npy")]
    if foreign:
        hint = (" (a torch .pt file? compare.convert turns it into a .npz archive)"
                if any(name.endswith("data.pkl") for name in foreign) else "")
        raise _refusal(path, f"members {foreign[:5]} are not KEY.npy arrays{hint}")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise _refusal(path, f"member {info.filename!r} is compressed or encrypted; manual.save writes stored "
                                 f"members only (a compressed member can expand to any size)")
        if info.file_size != info.compress_size:
            raise _refusal(path, f"member {info.filename!r} claims {info.file_size} bytes but stores "
                                 f"{info.compress_size}")
    claimed = sum(info.file_size for info in infos)
    if claimed > file_size:
        raise _refusal(path, f"its members claim {claimed} bytes, more than the file's {file_size}")
    return {info.filename[:-len(".npy")]: _read_header(archive, info, path) for info in infos}


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> Member:
    key = info.filename[:-len(".npy")]
    with _reading(path, f"the header of {key!r}"), archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise _refusal(path, f"{key!r} is a .npy of version {version}; manual.save writes 1.0 or 2.0")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
        data_bytes = info.file_size - member.tell()
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _refusal(path, f"{key!r} holds dtype {dtype}; a state_dict holds bool, integer, float or complex arrays")
    if any(size < 0 for size in shape):
        raise _refusal(path, f"{key!r} has the negative shape {shape}")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed != data_bytes:
        raise _refusal(path, f"the header of {key!r} claims a {shape} {dtype} array ({claimed} bytes), the member "
                             f"holds {data_bytes} bytes of data")
    return Member(info, tuple(shape), dtype)


def _check_against(expected: dict, members: dict[str, Member], path, model_name: str) -> None:
    """torch's load_state_dict(strict=True) checks, from the headers alone; one RuntimeError naming everything."""
    missing = [key for key in expected if key not in members]
    unexpected = [key for key in members if key not in expected]
    problems = []
    if missing:
        problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
    if unexpected:
        problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
    for key in (k for k in expected if k in members):
        (shape, dtype), member = expected[key], members[key]
        if member.shape != shape:
            problems.append(f"size mismatch for {key}: copying a param with shape {member.shape} from checkpoint, "
                            f"the shape in current model is {shape}.")
        if not np.can_cast(member.dtype, dtype, casting="same_kind"):
            problems.append(f"dtype mismatch for {key}: the checkpoint holds {member.dtype}, the model {dtype} "
                            f"(cast only within a kind or to a wider one: float to float, integer to float)")
    if problems:
        raise RuntimeError(f"cannot load {os.fspath(path)!r} into {model_name}: Error(s) in loading state_dict:\n\t"
                           + "\n\t".join(problems))


def _read_arrays(archive: zipfile.ZipFile, members: dict[str, Member], path) -> dict[str, np.ndarray]:
    arrays = {}
    for key, member in members.items():
        with _reading(path, f"the data of {key!r}"), archive.open(member.info) as file:
            arrays[key] = np.lib.format.read_array(file, allow_pickle=False)
    return arrays
