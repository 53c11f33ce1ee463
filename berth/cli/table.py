"""Go's text/tabwriter (as docker configures it: minwidth 10, padding 3, spaces)."""

from __future__ import annotations


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-terminated cells into columns, block by block like Go's tabwriter."""
    trailing_nl = text.endswith("\n")
    lines = [line.split("\t") for line in (text[:-1] if trailing_nl else text).split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write(lo: int, hi: int) -> None:
        for cells in lines[lo:hi]:
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if trailing_nl else "")
