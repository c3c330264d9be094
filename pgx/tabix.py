"""Does a tabix (``.tbi``) or CSI (``.csi``) index belong to its bgzipped VCF?

An index holds virtual file offsets into one particular file: the offset of a BGZF
block in the compressed file (high 48 bits) and of a record inside that block once it is
decompressed (low 16 bits). An index copied from another file (``cp other.vcf.gz.tbi
.``, then ``touch``, so its time stamp looks fresh) points into the wrong bytes: htslib
then fails with an opaque ``iteration failed`` or, worse, reads from random places.

:func:`index_problem` reads the index (it is small: a few KB to a few MB) and checks, with
no third-party code, that

* it is a TBI or CSI index at all (its magic, and a structure that parses to the end);
* every chunk offset it lists lies inside the VCF (an index of a larger file does not);
* the block offsets it lists, up to ``MAX_CHECKED_BLOCKS`` of them spread over the file,
  start a BGZF block in the VCF, and the offset inside the block lies within that
  block's decompressed size.

An index that passes is consistent with the file's block layout; one built for another
file almost never is (its blocks start at other places). Formats: the tabix format of
htslib's ``tabix.pdf`` and the CSI format of ``CSIv1.pdf`` (samtools/hts-specs).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

#: at most this many distinct BGZF block offsets of the index are checked against the file
MAX_CHECKED_BLOCKS = 256

_TBI_MAGIC = b"TBI\x01"
_CSI_MAGIC = b"CSI\x01"
_TBI_PSEUDO_BIN = 37450  # holds counts, not offsets
_BGZF_HEADER = b"\x1f\x8b\x08\x04"


class _Truncated(Exception):
    """The index ended in the middle of a field."""


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise _Truncated
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values if len(values) > 1 else values[0]

    def skip(self, n: int) -> None:
        if n < 0 or self.at + n > len(self.data):
            raise _Truncated
        self.at += n


def index_offsets(index: Path) -> list[int]:
    """Every virtual offset an index lists for its chunks (pseudo-bins excluded).

    Raises ValueError when the file is not a TBI or CSI index or its structure is cut short.
    """
    try:
        with gzip.open(index, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"not a BGZF-compressed index ({exc})") from None
    r = _Reader(data)
    offsets: list[int] = []
    try:
        magic = r.take("4s")
        if magic == _TBI_MAGIC:
            n_ref = r.take("<i")
            r.skip(6 * 4)  # format, col_seq, col_beg, col_end, meta, skip
            r.skip(r.take("<i"))  # sequence names
            for _ in range(n_ref):
                for _ in range(r.take("<i")):  # bins
                    bin_, n_chunk = r.take("<Ii")
                    chunks = [r.take("<QQ") for _ in range(n_chunk)]
                    if bin_ != _TBI_PSEUDO_BIN:
                        offsets.extend(o for chunk in chunks for o in chunk)
                r.skip(8 * r.take("<i"))  # linear index
        elif magic == _CSI_MAGIC:
            _min_shift, depth, l_aux = r.take("<iii")
            r.skip(l_aux)
            pseudo = ((1 << ((depth + 1) * 3)) - 1) // 7 + 1
            n_ref = r.take("<i")
            for _ in range(n_ref):
                for _ in range(r.take("<i")):
                    bin_, _loffset, n_chunk = r.take("<IQi")
                    chunks = [r.take("<QQ") for _ in range(n_chunk)]
                    if bin_ != pseudo:
                        offsets.extend(o for chunk in chunks for o in chunk)
        else:
            raise ValueError("not a tabix (.tbi) or CSI (.csi) index")
    except (_Truncated, struct.error):
        raise ValueError("the index is cut short") from None
    return offsets


def index_problem(vcf: Path, index: Path) -> str | None:
    """Why ``index`` cannot be the index of ``vcf`` (a short phrase), or None when it fits."""
    try:
        offsets = index_offsets(index)
    except ValueError as exc:
        return str(exc)
    size = Path(vcf).stat().st_size
    blocks = sorted({o >> 16 for o in offsets})
    beyond = [b for b in blocks if b >= size]
    if beyond:
        return f"it points {beyond[-1] - size + 1} bytes beyond the end of the file ({size} bytes)"
    within: dict[int, int] = {}  # block offset -> largest offset inside it the index uses
    for o in offsets:
        within[o >> 16] = max(within.get(o >> 16, 0), o & 0xFFFF)
    if len(blocks) > MAX_CHECKED_BLOCKS:  # an even spread, always with the first and last
        step = (len(blocks) - 1) / (MAX_CHECKED_BLOCKS - 1)
        blocks = sorted({blocks[round(i * step)] for i in range(MAX_CHECKED_BLOCKS)})
    with open(vcf, "rb") as fh:
        for block in blocks:
            fh.seek(block)
            head = fh.read(18)
            if len(head) < 18 or head[:4] != _BGZF_HEADER or head[12:14] != b"BC":
                return f"its offset {block} is not the start of a compressed block of the file"
            block_size = struct.unpack_from("<H", head, 16)[0] + 1
            fh.seek(block + block_size - 4)
            tail = fh.read(4)
            if len(tail) < 4:
                return f"its offset {block} names a block that runs past the end of the file"
            if within[block] > struct.unpack("<I", tail)[0]:
                return f"it points inside the block at {block} beyond the block's end"
    return None
