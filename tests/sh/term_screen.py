"""term_screen.py WIDTH < RAW: replays a program's terminal output on a WIDTH-column screen that wraps
as a terminal does (a character written past the last column goes onto a new row) and prints the
screen's rows, then "bar DRAWS LONGEST WRAPS": how many in-place redraws ("\\r" text ESC[K) there were,
the longest one's length and how many times one of them wrapped onto a new row. Understands what cnn_ddp writes: text,
\\n, \\r, \\r\\n and ESC[K (erase to the end of the row); any other escape sequence fails the replay."""
import re
import sys

width = int(sys.argv[1])
data = sys.stdin.buffer.read().decode("utf-8", "replace")
rows, row, col = [], [], 0
draws, longest, wraps, in_bar = 0, 0, 0, False
i = 0
while i < len(data):
    ch = data[i]
    if ch == "\x1b":
        m = re.match(r"\x1b\[K", data[i:])
        if not m:
            sys.exit("unexpected escape sequence %r" % data[i:i + 8])
        del row[col:]
        if in_bar:
            draws, longest, in_bar = draws + 1, max(longest, col), False
        i += len(m.group(0))
        continue
    if ch == "\r":
        col = 0
        in_bar = not data.startswith("\r\n", i)
    elif ch == "\n":
        rows.append("".join(row).rstrip())
        row, col, in_bar = [], 0, False
    elif ch >= " ":
        if col == width:  # past the last column: the terminal wraps onto a new row
            rows.append("".join(row))
            row, col = [], 0
            wraps += in_bar
        if col < len(row):
            row[col] = ch
        else:
            row.extend(" " * (col - len(row)))
            row.append(ch)
        col += 1
    i += 1
if row:
    rows.append("".join(row).rstrip())
for r in rows:
    print(r)
print("bar %d %d %d" % (draws, longest, wraps))
