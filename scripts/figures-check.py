#!/usr/bin/env python3
"""Every measured figure quoted in the docs is in bench/REPORT.md.

A figure is a number followed by a unit of measure (%, ms, s, µs, ns, /s,
bytes, APDUs, times, an hour, signatures/s, MiB): each must appear in the
bench report committed with it (which `make bench` writes), as the same
number or, for times, as the report's nanoseconds per operation at the
quoted unit and precision (232 ms for 232489102 ns/op), and for "N times",
as a percentage over 100 (297 times for 29692%), so that a page cannot
quote a figure the report of its commit does not hold. Goals are written
"goal: N" or "goal N" and are not figures.

Usage: scripts/figures-check.py [FILE ...]   (default: docs/speed.md)
"""
import re
import sys

UNIT = r"(?:%|\s?ms\b|\s?µs\b|\s?ns\b|\s?s\b|/s\b|\s(?:bytes|APDUs|times|an hour|signatures/s|MiB|per cent)\b)"
FIG = re.compile(r"(?<![\w.,-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?=" + UNIT + ")")
GOAL = re.compile(r"(?:goals?:?|at least|at most|within)\s*$", re.I)


def numbers(text):
    out = set()
    for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
        n = n.replace(",", "")
        out.add(n)
        if re.fullmatch(r"\d+\.0+", n):
            out.add(n.split(".")[0])  # 16.0 APDUs/op is "16 APDUs"
    return out


SCALE = {"µs": 1e3, "ms": 1e6, "s": 1e9, "times": 100}


def converted(n, unit, have):
    """n is a report figure in another unit: nanoseconds shown in µs, ms
    or s, a percentage shown as a multiple, rounded as the page rounds."""
    word = unit.split()[0] if unit else ""
    word = word.rstrip(".,;)")
    scale = SCALE.get(word)
    if scale is None:
        return False
    places = len(n.split(".")[1]) if "." in n else 0
    want = float(n)
    for h in have:
        if round(float(h) / scale, places) == want:
            return True
    return False


def main(paths):
    report = open("bench/REPORT.md", encoding="utf-8").read()
    have = numbers(report)
    bad = 0
    for path in paths:
        text = open(path, encoding="utf-8").read()
        for m in FIG.finditer(text):
            before = text[max(0, m.start() - 20):m.start()]
            if GOAL.search(before) or re.search(r"goals?\s(?:\d[\d.,%]*\s(?:and|or)\s)?$", before):
                continue
            n = m.group(1).replace(",", "")
            unit = text[m.end():m.end() + 7].strip()
            word = unit.split()[0].rstrip(".,;)") if unit else ""
            # A time is checked against the report's times (ns/op), in
            # the unit quoted; other figures as the same number.
            # (or as printed in the report's own ms columns, when it has
            # decimals: a bare integer would match too much).
            if word in SCALE and word != "times":
                found = converted(n, unit, have) or ("." in n and n in have)
            else:
                found = n in have or converted(n, unit, have)
            if not found:
                line = text.count("\n", 0, m.start()) + 1
                print(f"{path}:{line}: figure {m.group(0)}{text[m.end():m.end()+12].split(chr(10))[0]!r} is not in bench/REPORT.md")
                bad += 1
    if bad:
        print(f"figures-check: {bad} figure(s) not in the bench report: take them from bench/REPORT.md (make bench)")
        return 1
    print(f"figures-check: every figure of {', '.join(paths)} is in bench/REPORT.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["docs/speed.md"]))
