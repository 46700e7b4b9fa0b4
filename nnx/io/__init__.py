"""Files in and out: checkpoints (:mod:`.checkpoint`), PNG (:mod:`.png`), pictures of digits
(:mod:`.images`), IDX and downloads (:mod:`.idx`), the input convention a saved model records
(:mod:`.inputs`), all written through one atomic-write helper (:mod:`.atomic`). Every file read
is treated as hostile until checked."""
from .atomic import atomic_write, check_writable
from .checkpoint import load, load_header, load_with_header, save
from .idx import read_idx
from .inputs import input_metadata, prepare_inputs
from .png import read_png, write_png
from .safetensors import load_safetensors, save_safetensors  # the library itself only when called

__all__ = ["atomic_write", "check_writable", "input_metadata", "load", "load_header", "load_with_header",
           "prepare_inputs", "read_idx", "read_png", "save", "save_safetensors", "load_safetensors", "write_png"]
