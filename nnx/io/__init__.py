"""Files in and out: checkpoints (:mod:`.checkpoint`), PNG (:mod:`.png`), IDX and downloads
(:mod:`.idx`), all written through one atomic-write helper (:mod:`.atomic`). Every file read is
treated as hostile until checked."""
from .atomic import atomic_write
from .checkpoint import load, load_header, load_with_header, save
from .idx import read_idx
from .png import read_png, write_png

__all__ = ["atomic_write", "load", "load_header", "load_with_header", "read_idx", "read_png", "save", "write_png"]
