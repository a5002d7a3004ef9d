"""Rebuild data/corpus/kjv.txt.gz, the shipped King James Bible corpus, from Debian packages.

    python data/make_corpus.py                      # apt-get download into a temp folder, rebuild
    python data/make_corpus.py --deb-dir /tmp/debs  # use bible-kjv*_4.38_*.deb already there

Debian ships the text (package bible-kjv-text) in the Bible Retrieval System's own compressed format,
so the reader program from package bible-kjv dumps it: `bible -f -p DIR Gen1:1-Rev22:21` prints one
verse a line, each led by a reference such as "Ge1:1 ". That dump is the *raw text*. Normalising keeps
the words and drops the references: each book opens with its full name on a line of its own (taken from
the reader's pretty-printed header), each chapter becomes one paragraph (its verses joined by a space),
paragraphs are separated by a blank line, runs of whitespace inside a verse collapse to one space.
The result is ASCII (so also UTF-8). It is gzipped with mtime 0 and no file name, so the same input and
zlib give the same bytes. Prints byte counts and sha256 sums for data/README.md.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

VERSION = "4.38"  # Debian bookworm; the sums in data/README.md are for this version
PACKAGES = ("bible-kjv-text", "bible-kjv")
FULL_RANGE = "Gen1:1-Rev22:21"
VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
OUT = Path(__file__).resolve().parent / "corpus" / "kjv.txt.gz"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_debs(deb_dir: Path) -> dict[str, Path]:
    """The two .deb files, downloaded with apt-get unless already in deb_dir."""
    debs = {}
    for pkg in PACKAGES:
        found = sorted(deb_dir.glob(f"{pkg}_{VERSION}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", f"{pkg}={VERSION}"], cwd=deb_dir, check=True)
            found = sorted(deb_dir.glob(f"{pkg}_{VERSION}_*.deb"))
        debs[pkg] = found[0]
    return debs


def extract(deb: Path, into: Path) -> Path:
    subprocess.run(["dpkg", "-x", str(deb), str(into)], check=True)
    return into


def run_reader(reader: Path, data_dir: Path, *args: str) -> str:
    out = subprocess.run([str(reader), "-p", str(data_dir), *args], capture_output=True, check=True)
    return out.stdout.decode("ascii")


def book_name(reader: Path, data_dir: Path, abbrev: str) -> str:
    """Full book name from the pretty-printed header, e.g. 'SSol' -> 'Song of Solomon'."""
    header = run_reader(reader, data_dir, f"{abbrev}1:1").strip().splitlines()[0]
    return header.rsplit(" ", 1)[0]


def normalise(raw: str, names: dict[str, str]) -> str:
    """One title line per book, one paragraph per chapter, blank lines between them."""
    paragraphs: list[str] = []
    chapter_key, verses = None, []
    for line in raw.splitlines():
        m = VERSE.match(line)
        if not m:
            raise ValueError(f"unexpected line in the reader's dump: {line[:60]!r}")
        book, chapter, _, text = m.groups()
        if (book, chapter) != chapter_key:
            if verses:
                paragraphs.append(" ".join(verses))
            if chapter_key is None or book != chapter_key[0]:
                paragraphs.append(names[book])
            chapter_key, verses = (book, chapter), []
        verses.append(" ".join(text.split()))
    paragraphs.append(" ".join(verses))
    return "\n\n".join(paragraphs) + "\n"


def gzip_bytes(data: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deb-dir", type=Path, help="folder with (or to download) the two .deb files")
    ap.add_argument("--out", type=Path, default=OUT, help=f"output .gz (default {OUT})")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        debs = fetch_debs(args.deb_dir or tmp)
        root = tmp / "root"
        for deb in debs.values():
            extract(deb, root)
        reader, data_dir = root / "usr/bin/bible", root / "usr/lib"
        packed = (data_dir / "bible.data").read_bytes()
        raw = run_reader(reader, data_dir, "-f", FULL_RANGE)
        abbrevs = dict.fromkeys(VERSE.match(l).group(1) for l in raw.splitlines())
        names = {a: book_name(reader, data_dir, a) for a in abbrevs}
        text = normalise(raw, names).encode("ascii")
    shipped = gzip_bytes(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(shipped)
    print(f"books {len(names)}, verses {len(raw.splitlines())}")
    for label, data in [("bible.data (packed)", packed), ("raw dump", raw.encode("ascii")),
                        ("normalised text", text), (f"shipped {args.out.name}", shipped)]:
        print(f"{label:22s} {len(data):>9,d} bytes  sha256 {sha256(data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
