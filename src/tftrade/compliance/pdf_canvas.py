"""A minimal PDF writer: pages of lines, rectangles and Helvetica text (no dependency).

Enough to draw a form: the standard 14 fonts need no embedding, text is WinAnsi (Latin-1).
Coordinates are points from the bottom-left corner, as in PDF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Align = Literal["left", "center", "right"]
_FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold"}
# Helvetica advance widths (1/1000 em) for ASCII 32..126, from the standard AFM.
_WIDTHS = [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556,
           556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278,
           500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
           556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
           278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584]


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` in points (bold approximated as 6 % wider)."""
    units = sum(_WIDTHS[ord(c) - 32] if 32 <= ord(c) <= 126 else 556 for c in text)
    return units * size / 1000 * (1.06 if bold else 1.0)


def _escape(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


class PdfCanvas:
    """Draw on pages, then :meth:`save`."""

    def __init__(self, width: float = 612, height: float = 792) -> None:
        self.width, self.height = width, height
        self._pages: list[list[str]] = []

    def new_page(self) -> None:
        """Start a new page; later drawing goes onto it."""
        self._pages.append([])

    def _ops(self) -> list[str]:
        if not self._pages:
            self.new_page()
        return self._pages[-1]

    def text(self, x: float, y: float, text: str, size: float = 7, bold: bool = False, align: Align = "left",
             white: bool = False) -> None:
        """Write one line of text with its baseline at ``y``; ``x`` is its left, centre or right."""
        w = text_width(text, size, bold)
        left = x - w if align == "right" else x - w / 2 if align == "center" else x
        colour = "1 g" if white else "0 g"
        self._ops().append(f"BT {colour} /{'F2' if bold else 'F1'} {size:g} Tf {left:.2f} {y:.2f} Td "
                           f"({_escape(text)}) Tj ET")

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.5) -> None:
        """A straight line."""
        self._ops().append(f"{width:g} w {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")

    def rect(self, x: float, y: float, w: float, h: float, width: float = 0.5, fill: bool = False) -> None:
        """A rectangle from its bottom-left corner, stroked or filled black."""
        self._ops().append(f"{width:g} w {x:.2f} {y:.2f} {w:.2f} {h:.2f} re {'f' if fill else 'S'}")

    def to_bytes(self) -> bytes:
        """The document."""
        if not self._pages:
            self.new_page()
        objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
        font_ids = {}
        for name, base in _FONTS.items():
            objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>".encode())
            font_ids[name] = len(objects)
        fonts = " ".join(f"/{n} {i} 0 R" for n, i in font_ids.items())
        kids = []
        for ops in self._pages:
            stream = "\n".join(ops).encode("latin-1")
            objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
            objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {self.width:g} {self.height:g}] "
                           f"/Resources << /Font << {fonts} >> >> /Contents {len(objects)} 0 R >>".encode())
            kids.append(len(objects))
        objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
        out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
        out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
        return bytes(out)

    def save(self, path: Path) -> Path:
        """Write the document to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())
        return path
