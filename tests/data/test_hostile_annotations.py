"""Annotation readers on damaged, hostile and merely unusual files: every outcome is either the exact samples or an
``AnnotationError`` naming the file and line (or JSON entry); no other exception, no hang, no unbounded read.

The corpus is written at test time into ``tmp_path``: one case per row of ``CASES`` (files, reader, expected
outcome), then special files (FIFO, device, folder, sparse giant), class folders, duplicate warnings and a seeded
mutation sweep over valid files.
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tubelet.data import datasets
from tubelet.data.datasets import read_class_folders, read_kinetics_csv, read_list_file, read_ssv2
from tubelet.errors import AnnotationError, TubeletError, UsageError

K_HEADER = b"label,youtube_id,time_start,time_end,split\n"
K_CLASSES = ["abseiling", "zumba", "caf\u00e9 au lait"]
SS_LABELS = {"Holding something": "16", "Pushing something from left to right": "93"}


def _labels(obj: object = SS_LABELS) -> bytes:
    return json.dumps(obj).encode()


# readers, each reading the files a case writes into one folder
def _list(d: Path) -> list:
    return read_list_file(d / "list.txt", "/r")


def _list_csv(d: Path) -> list:
    return read_list_file(d / "list.txt", "/r", sep=",")


def _list_5(d: Path) -> list:
    return read_list_file(d / "list.txt", "/r", num_classes=5)


def _kinetics(d: Path) -> list:
    return read_kinetics_csv(d / "k.csv", "/k", K_CLASSES)


def _kinetics_flat(d: Path) -> list:  # one file per id: the same id under two classes is a conflict
    return read_kinetics_csv(d / "k.csv", "/k", K_CLASSES, template="{youtube_id}.mp4")


def _ssv2(d: Path) -> list:
    return read_ssv2(d / "labels.json", d / "train.json", "/s")


@dataclass
class Case:
    """One corpus entry: ``files`` (name -> bytes) read by ``read``; ``expect`` is the exact samples, or a regex that
    the ``AnnotationError`` message must match (``{d}`` stands for the escaped folder, path separator included)."""
    id: str
    read: Callable[[Path], list]
    files: dict[str, bytes]
    expect: list | str


def _ok_list(*labels: int) -> list:
    return [(f"/r/{'abc'[i]}.mp4", label) for i, label in enumerate(labels)]


def _label_case(id: str, label: str, error: bool = True) -> Case:
    """``a.mp4 1`` then ``b.mp4 LABEL``: a bad label is an error at line 2."""
    expect = r"{d}list\.txt:2: expected 'PATH LABEL' with an integer label \(ASCII digits\), got 'b\.mp4 "
    return Case(f"label-{id}", _list, {"list.txt": f"a.mp4 1\nb.mp4 {label}\n".encode()},
                expect if error else _ok_list(1, int(label)))


def _time_case(id: str, value: str, key: str = "time_start") -> Case:
    row = f"abseiling,abc,{value},10,val" if key == "time_start" else f"abseiling,abc,0,{value},val"
    return Case(f"time-{id}", _kinetics, {"k.csv": K_HEADER + b"zumba,xyz,0,10,val\n" + row.encode() + b"\n"},
                rf"{{d}}k\.csv:3: {key} .* is not a number of seconds")


def _ss_case(id: str, split: object, expect: list | str, labels: object = SS_LABELS) -> Case:
    return Case(f"ssv2-{id}", _ssv2, {"labels.json": _labels(labels), "train.json": json.dumps(split).encode()},
                expect)


HOLD = {"id": "1", "template": "Holding [something]"}
PUSH = {"id": "2", "template": "Pushing [something] from left to right"}
K_OK = [("/k/abseiling/abc_000012_000022.mp4", 0), ("/k/zumba/xyz_000000_000010.mp4", 1)]
K_ROWS = b"abseiling,abc,12,22,val\nzumba,xyz,0,10,val\n"

CASES = [
    # 1. UTF-8 byte-order mark (Excel, Notepad): accepted by every reader
    Case("bom-list", _list, {"list.txt": b"\xef\xbb\xbfa.mp4 1\nb.mp4 2\n"}, _ok_list(1, 2)),
    Case("bom-list-csv", _list_csv, {"list.txt": b"\xef\xbb\xbfa.mp4,1\r\nb.mp4,2\r\n"}, _ok_list(1, 2)),
    Case("bom-mid-file", _list, {"list.txt": b"\xef\xbb\xbfa.mp4 1\n\xef\xbb\xbfb.mp4 2\n"}, _ok_list(1, 2)),
    Case("bom-kinetics", _kinetics, {"k.csv": b"\xef\xbb\xbf" + K_HEADER + K_ROWS}, K_OK),
    Case("bom-ssv2", _ssv2, {"labels.json": b"\xef\xbb\xbf" + _labels(),
                             "train.json": b"\xef\xbb\xbf" + json.dumps([HOLD, PUSH]).encode()},
         [("/s/1.webm", 16), ("/s/2.webm", 93)]),
    # 2. not UTF-8: refused, saying what the file is
    Case("utf16-le-bom", _list, {"list.txt": "a.mp4 1\n".encode("utf-16")}, r"{d}list\.txt: .*it is UTF-16 text"),
    Case("utf16-be-bom", _list, {"list.txt": b"\xfe\xff" + "a.mp4 1\n".encode("utf-16-be")},
         r"{d}list\.txt: .*it is UTF-16 text.*save it as UTF-8"),
    Case("utf32-bom", _list, {"list.txt": "a.mp4 1\n".encode("utf-32")}, r"{d}list\.txt: .*it is UTF-32 text"),
    Case("utf16-no-bom", _list, {"list.txt": "a.mp4 1\nb.mp4 2\n".encode("utf-16-le")},
         r"{d}list\.txt: .*looks like UTF-16 text without a byte-order mark"),
    Case("latin1", _list, {"list.txt": "a.mp4 1\ncaf\u00e9.mp4 2\n".encode("latin-1")},
         r"{d}list\.txt:2: not a UTF-8 text file: byte 0xe9 is not UTF-8 \(Latin-1"),
    Case("latin1-after-bom", _list, {"list.txt": b"\xef\xbb\xbfa.mp4 1\nb.mp4 2\n\xe9.mp4 3\n"},
         r"{d}list\.txt:3: not a UTF-8 text file: byte 0xe9"),
    Case("nul-byte", _list, {"list.txt": b"a.mp4 1\nb.mp4 2\nc.mp\x004 3\n"},
         r"{d}list\.txt:3: not a UTF-8 text file: it is a binary file, not a text annotation file"),
    Case("zero-filled", _list, {"list.txt": bytes(4096)}, r"{d}list\.txt:1: .*it is a binary file"),
    Case("random-binary", _list, {"list.txt": random.Random(0).randbytes(2048)}, r"{d}list\.txt:\d+: .*binary file"),
    Case("escape-sequence", _list, {"list.txt": b"a.mp4 1\n\x1b[2Jb.mp4 2\n"}, r"{d}list\.txt:2: .*binary file"),
    Case("latin1-kinetics", _kinetics, {"k.csv": K_HEADER + "caf\u00e9 au lait,a,1,2,val\n".encode("latin-1")},
         r"{d}k\.csv:2: not a UTF-8 text file"),
    Case("nul-kinetics", _kinetics, {"k.csv": K_HEADER + b"zumba,a\x00,1,2,val\n"}, r"{d}k\.csv:2: .*binary file"),
    Case("utf16-labels-json", _ssv2, {"labels.json": json.dumps(SS_LABELS).encode("utf-16"),
                                      "train.json": json.dumps([HOLD]).encode()}, r"{d}labels\.json: .*UTF-16"),
    Case("latin1-split-json", _ssv2, {"labels.json": _labels(),
                                      "train.json": '[{"id": "1", "template": "Holding [something] \u00e9"}]'
                                      .encode("latin-1")}, r"{d}train\.json:1: not a UTF-8 text file"),
    # 3. labels: plain ASCII decimal integers only
    _label_case("x", "x"), _label_case("inf", "inf"), _label_case("nan", "nan"), _label_case("double-minus", "--3"),
    _label_case("exponent", "1e3"), _label_case("plus", "+3"), _label_case("float", "3.0"), _label_case("hex", "0x3"),
    _label_case("superscript", "\u00b2"), _label_case("full-width", "\uff13"), _label_case("arabic-indic", "\u0663"),
    _label_case("underscore", "1_0"), _label_case("leading-zeros", "007", error=False),
    Case("label-huge", _list, {"list.txt": b"a.mp4 1\nb.mp4 99999999999999999999999\n"},
         r"{d}list\.txt:2: label 99999999999999999999999 outside \[0, 2147483647\]"),
    Case("label-5000-digits", _list, {"list.txt": b"a.mp4 " + b"9" * 5000 + b"\n"},
         r"{d}list\.txt:1: label 9{30}\.\.\. outside"),
    Case("label-negative", _list, {"list.txt": b"a.mp4 1\nb.mp4 -1\n"}, r"{d}list\.txt:2: label -1 outside \[0, "),
    Case("label-num-classes", _list_5, {"list.txt": b"a.mp4 4\nb.mp4 5\n"},
         r"{d}list\.txt:2: label 5 outside \[0, 5\)"),
    Case("label-space-after-comma", _list_csv, {"list.txt": b"a.mp4, 1\nb.mp4 ,2\n"}, _ok_list(1, 2)),
    Case("label-missing", _list, {"list.txt": b"a.mp4 1\nb.mp4\n"}, r"{d}list\.txt:2: expected 'PATH LABEL'"),
    Case("path-missing", _list_csv, {"list.txt": b"a.mp4,1\n ,2\n"}, r"{d}list\.txt:2: no video path before the label"),
    # Kinetics times: plain decimal seconds
    _time_case("inf", "inf"), _time_case("nan", "nan"), _time_case("1e400", "1e400"), _time_case("exponent", "1e3"),
    _time_case("negative", "-5"), _time_case("empty", ""), _time_case("full-width", "\uff11\uff12"),
    _time_case("end-inf", "inf", "time_end"), _time_case("end-huge", "9" * 400, "time_end"),
    Case("time-decimal", _kinetics, {"k.csv": K_HEADER + b"abseiling,abc,12.0,22.9,val\nzumba,xyz, 0 ,10,val\n"}, K_OK),
    # 4. CSV structure
    Case("csv-field-too-large", _kinetics,
         {"k.csv": K_HEADER + K_ROWS + b'zumba,"' + b"x" * 140_000 + b'",1,2,val\n'},
         r"{d}k\.csv:4: not valid CSV \(field larger than field limit"),
    Case("csv-missing-columns", _kinetics, {"k.csv": K_HEADER + b"abseiling,abc\n"},
         r"{d}k\.csv:2: missing time_start, time_end \(the row has 2 of the header's 5 columns\)"),
    Case("csv-extra-columns", _kinetics, {"k.csv": K_HEADER + b"abseiling,abc,12,22,val,1\nzumba,xyz,0,10,val\n"},
         K_OK),
    Case("csv-no-header", _kinetics, {"k.csv": K_ROWS}, r"{d}k\.csv:1: expected columns"),
    Case("csv-empty", _kinetics, {"k.csv": b""}, r"{d}k\.csv:1: expected columns .* got None"),
    Case("csv-header-only", _kinetics, {"k.csv": K_HEADER}, r"{d}k\.csv: no samples"),
    Case("csv-unknown-class", _kinetics, {"k.csv": K_HEADER + K_ROWS + b"Zumba,q,1,2,val\n"},
         r"{d}k\.csv:4: unknown class 'Zumba'"),
    Case("csv-line-numbers", _kinetics,  # a quoted field over two lines and a blank line still count
         {"k.csv": K_HEADER + b'abseiling,abc,12,22,"va\nl"\n\nzumba,xyz,nan,10,val\n'},
         r"{d}k\.csv:5: time_start 'nan'"),
    Case("csv-youtube-id-path", _kinetics, {"k.csv": K_HEADER + b"zumba,../../etc/x,1,2,val\n"},
         r"{d}k\.csv:2: youtube_id '\.\./\.\./etc/x' is not a video id"),
    Case("csv-youtube-id-empty", _kinetics, {"k.csv": K_HEADER + b"zumba,,1,2,val\n"},
         r"{d}k\.csv:2: youtube_id '' is not a video id"),
    Case("csv-quoted-comma-crlf", _kinetics, {"k.csv": K_HEADER + b'"caf\xc3\xa9 au lait",a b,1,11,val\r\n'},
         [("/k/caf\u00e9 au lait/a b_000001_000011.mp4", 2)]),
    # 5. SSv2 JSON of the wrong shape: the JSON path names the value
    _ss_case("ok-int-id-and-index", [{"id": 5, "template": "Holding [something]"}], [("/s/5.webm", 7)],
             {"Holding something": 7}),
    _ss_case("labels-list", [HOLD], r"{d}labels\.json: expected a JSON object .* got an array", [["Holding", 1]]),
    _ss_case("labels-null", [HOLD], r"{d}labels\.json: expected a JSON object .* got null", None),
    _ss_case("labels-float", [HOLD], r'{d}labels\.json: \["Holding something"\]: expected a class index .* got a '
             r"number \(16\.5\)", {"Holding something": 16.5}),
    _ss_case("labels-bool", [HOLD], r'{d}labels\.json: \["Holding something"\]: .* got a boolean \(true\)',
             {"Holding something": True}),
    _ss_case("labels-word", [HOLD], r'{d}labels\.json: \["Holding something"\]: .* got a string \("sixteen"\)',
             {"Holding something": "sixteen"}),
    _ss_case("labels-superscript", [HOLD], r'{d}labels\.json: \["Holding something"\]: expected a class index',
             {"Holding something": "\u00b2"}),
    _ss_case("labels-negative", [HOLD], r'{d}labels\.json: \["Holding something"\]: expected a class index',
             {"Holding something": -1}),
    _ss_case("labels-nan", [HOLD], r'{d}labels\.json: \["Holding something"\]: .* got a number \(NaN\)',
             {"Holding something": float("nan")}),
    Case("labels-duplicate-key", _ssv2, {"labels.json": b'{"Holding something": "16", "Holding something": "17"}',
                                         "train.json": json.dumps([HOLD]).encode()},
         r'{d}labels\.json: \["Holding something"\]: listed twice, as "16" and "17"'),
    _ss_case("split-object", {"1": "Holding [something]"}, r"{d}train\.json: expected a JSON array .* got an object"),
    _ss_case("split-null", None, r"{d}train\.json: expected a JSON array .* got null"),
    _ss_case("entry-number", [HOLD, 3], r"{d}train\.json: \[1\]: expected an object .* got an integer \(3\)"),
    _ss_case("entry-null", [None], r"{d}train\.json: \[0\]: expected an object .* got null"),
    _ss_case("template-int", [HOLD, PUSH, HOLD | {"id": "3"}, {"id": "4", "template": 5}],
             r"{d}train\.json: \[3\]\.template: expected a string, got an integer \(5\)"),
    _ss_case("template-list", [{"id": "1", "template": ["Holding"]}],
             r"{d}train\.json: \[0\]\.template: expected a string, got an array"),
    _ss_case("id-object", [{"id": {"a": 1}, "template": "Holding [something]"}],
             r"{d}train\.json: \[0\]\.id: expected a string or an integer, got an object"),
    _ss_case("id-bool", [{"id": True, "template": "Holding [something]"}],
             r"{d}train\.json: \[0\]\.id: .* got a boolean"),
    _ss_case("id-path", [{"id": "../x", "template": "Holding [something]"}],
             r"{d}train\.json: \[0\]\.id: '\.\./x' is not a video id"),
    _ss_case("id-nul", [{"id": "1\u0000", "template": "Holding [something]"}],
             r"{d}train\.json: \[0\]\.id: '1\\x00' is not a video id"),
    Case("id-lone-surrogate", _ssv2, {"labels.json": _labels(),
                                      "train.json": b'[{"id": "\\ud800", "template": "Holding [something]"}]'},
         r"{d}train\.json: \[0\]\.id: '\\ud800' is not a video id"),
    _ss_case("no-template", [{"id": "1"}], r'{d}train\.json: \[0\]: no "template"'),
    _ss_case("unknown-class", [HOLD, {"id": "2", "template": "Juggling [something]"}],
             r"{d}train\.json: \[1\]\.template: entry 1 names an unknown class 'Juggling something' \(not in "
             r"{d}labels\.json\)"),
    Case("json-deep", _ssv2, {"labels.json": _labels(), "train.json": b"[" * 100_000},
         r"{d}train\.json: not valid annotation JSON \(nested too deeply\)"),
    Case("json-deep-labels", _ssv2, {"labels.json": b'{"a":' * 100_000, "train.json": b"[]"},
         r"{d}labels\.json: not valid annotation JSON \(nested too deeply\)"),
    Case("json-huge-int", _ssv2, {"labels.json": _labels(), "train.json": b'[{"id": ' + b"9" * 5000 + b"}]"},
         r"{d}train\.json: not valid annotation JSON \(Exceeds the limit"),
    Case("json-truncated", _ssv2, {"labels.json": _labels(), "train.json": b'[\n{"id": "1",\n'},
         r"{d}train\.json:3: not valid JSON"),
    Case("json-empty", _ssv2, {"labels.json": b"", "train.json": b"[]"}, r"{d}labels\.json:1: not valid JSON"),
    # 6. comments and duplicates
    Case("comments", _list, {"list.txt": b"# path label\na.mp4 1\n   # indented\n\t#tab\nb.mp4 2 \n"}, _ok_list(1, 2)),
    Case("only-comments", _list, {"list.txt": b"# nothing\n\n  \n"}, r"{d}list\.txt: no samples"),
    Case("empty-list", _list, {"list.txt": b""}, r"{d}list\.txt: no samples"),
    Case("dup-conflict", _list, {"list.txt": b"a.mp4 1\nb.mp4 2\na.mp4 3\n"},
         r"{d}list\.txt:3: 'a\.mp4' is labelled 3 here but 1 at line 1"),
    Case("dup-conflict-dot-slash", _list, {"list.txt": b"a.mp4 1\n./a.mp4 2\n"},
         r"{d}list\.txt:2: '\./a\.mp4' is labelled 2 here but 1 at line 1"),
    Case("dup-same-label", _list, {"list.txt": b"a.mp4 1\nb.mp4 2\na.mp4 1\n"},
         [("/r/a.mp4", 1), ("/r/b.mp4", 2), ("/r/a.mp4", 1)]),
    Case("dup-conflict-kinetics", _kinetics_flat, {"k.csv": K_HEADER + b"abseiling,abc,1,2,val\nzumba,abc,1,2,val\n"},
         r"{d}k\.csv:3: 'abc\.mp4' is labelled 'zumba' here but 'abseiling' at line 2"),
    _ss_case("dup-conflict", [HOLD, PUSH | {"id": "1"}],
             r"{d}train\.json: \[1\]: '1' is labelled 93 here but 16 at entry 0"),
    # 8. unusual but valid paths and line endings
    Case("spaces-and-tabs", _list, {"list.txt": b"dir with space/a b.mp4 3\nc d.mp4\t4\n"},
         [("/r/dir with space/a b.mp4", 3), ("/r/c d.mp4", 4)]),
    Case("non-ascii", _list, {"list.txt": "vid\u00e9os/\u65e5\u672c\u8a9e \u2713.mp4 4\n\u0430.mp4 0".encode()},
         [("/r/vid\u00e9os/\u65e5\u672c\u8a9e \u2713.mp4", 4), ("/r/\u0430.mp4", 0)]),
    Case("unicode-line-separator", _list, {"list.txt": "a\u2028b.mp4 1\n".encode()}, [("/r/a\u2028b.mp4", 1)]),
    Case("cr-only", _list, {"list.txt": b"a.mp4 1\rb.mp4 2\rc.mp4 x\r"}, r"{d}list\.txt:3: expected"),
    Case("crlf-no-final-newline", _list, {"list.txt": b"a.mp4 1\r\nb.mp4 2"}, _ok_list(1, 2)),
    Case("absolute-path", _list, {"list.txt": b"/data/a.mp4 1\n"}, [("/data/a.mp4", 1)]),
    _ss_case("non-ascii", [{"id": "\u00e9", "template": "Caf\u00e9 [something]"}], [("/s/\u00e9.webm", 0)],
             {"Caf\u00e9 something": "0"}),
]


def _outcome(read: Callable[[], list]) -> list | AnnotationError:
    """The samples, or the AnnotationError; any other exception fails the test, naming its type."""
    try:
        return read()
    except AnnotationError as e:
        return e
    except Exception as e:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{type(e).__name__} escaped instead of AnnotationError: {e}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus(case: Case, tmp_path: Path) -> None:
    for name, data in case.files.items():
        (tmp_path / name).write_bytes(data)
    got = _outcome(lambda: case.read(tmp_path))
    if isinstance(case.expect, list):
        assert not isinstance(got, AnnotationError), f"valid file refused: {got}"
        assert got == case.expect
    else:
        assert isinstance(got, AnnotationError), f"bad file accepted: {got!r}"[:300]
        assert isinstance(got, TubeletError) and isinstance(got, ValueError)
        pattern = case.expect.replace("{d}", re.escape(str(tmp_path) + os.sep))
        assert re.search(pattern, str(got)), f"{got}\ndoes not match\n{pattern}"
        # no chained UnicodeDecodeError, csv.Error, RecursionError ... in the traceback
        assert got.__cause__ is None and (got.__context__ is None or got.__suppress_context__)
        assert len(str(got)) < 1000  # a message quotes a bad value, not the file


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def _within(seconds: float, call: Callable[[], object]) -> object:
    """``call()``'s result or exception; fails (instead of hanging the suite) when it takes longer."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("reader", [_list, _kinetics, _ssv2], ids=["list", "kinetics", "ssv2"])
def test_fifo_is_refused_without_waiting_for_a_writer(reader: Callable[[Path], list], tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_bytes(_labels())
    for name in ("list.txt", "k.csv", "train.json"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(AnnotationError, match=r"(list\.txt|k\.csv|train\.json): cannot read the annotation file: "
                                              r"it is a named pipe \(FIFO\), not an annotation file"):
        _within(5, lambda: reader(tmp_path))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_device_is_refused_without_reading() -> None:
    with pytest.raises(AnnotationError, match="^/dev/zero: cannot read the annotation file: it is a character device"):
        _within(5, lambda: read_list_file("/dev/zero"))
    with pytest.raises(AnnotationError, match="^/dev/zero: .*character device"):
        _within(5, lambda: read_ssv2("/dev/zero", "/dev/zero", "/s"))


def test_folder_missing_and_odd_names(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=f"^{re.escape(str(tmp_path))}: cannot read the annotation file: it is a "
                                              "folder, not an annotation file$"):
        read_list_file(tmp_path)
    with pytest.raises(AnnotationError, match=r"k\.csv: no such annotation file"):
        read_kinetics_csv(tmp_path / "k.csv", "/k", K_CLASSES)
    with pytest.raises(AnnotationError, match="not a valid file name"):
        read_list_file(str(tmp_path / "a\0b.txt"))
    if hasattr(os, "symlink"):
        (tmp_path / "real.txt").write_bytes(b"a.mp4 1\n")
        (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
        assert read_list_file(tmp_path / "link.txt", "/r") == [("/r/a.mp4", 1)]
        (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
        with pytest.raises(AnnotationError, match=r"loop\.txt: cannot read the annotation file \("):
            read_list_file(tmp_path / "loop.txt")


def test_giant_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    giant = tmp_path / "giant.txt"
    with open(giant, "wb") as f:  # sparse: 2 GiB + 1 byte on paper, nothing on disk
        f.truncate(datasets.MAX_ANNOTATION_BYTES + 1)
    with pytest.raises(AnnotationError, match=r"giant\.txt: 2\.0 GiB is too large for an annotation file \(at most "
                                              r"2 GiB\)"):
        _within(5, lambda: read_list_file(giant))
    monkeypatch.setattr(datasets, "MAX_ANNOTATION_BYTES", 10)  # the bound is the module constant
    small = tmp_path / "small.txt"
    small.write_bytes(b"a.mp4 1\nb.mp4 2\n")
    with pytest.raises(AnnotationError, match=r"small\.txt: .* too large"):
        read_list_file(small)


@pytest.mark.parametrize("template", ["{label}/{nope}.mp4", "{label:06d}.mp4", "{0}.mp4", "{label"])
def test_bad_path_template_is_a_usage_error(template: str, tmp_path: Path) -> None:
    (tmp_path / "k.csv").write_bytes(K_HEADER + K_ROWS)
    with pytest.raises(UsageError, match="path template"):
        read_kinetics_csv(tmp_path / "k.csv", "/k", K_CLASSES, template=template)


def test_duplicates_warn_once_per_file_with_the_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "list.txt").write_bytes(b"a.mp4 1\nb.mp4 2\na.mp4 1\n./b.mp4 2\na.mp4 1\n")
    (tmp_path / "k.csv").write_bytes(K_HEADER + K_ROWS + K_ROWS[:24])
    (tmp_path / "labels.json").write_bytes(_labels())
    (tmp_path / "train.json").write_bytes(json.dumps([HOLD, PUSH, HOLD]).encode())
    with caplog.at_level(logging.WARNING, logger="tubelet.data"):
        assert len(_list(tmp_path)) == 5
        assert _kinetics(tmp_path) == K_OK + K_OK[:1]
        assert _ssv2(tmp_path) == [("/s/1.webm", 16), ("/s/2.webm", 93), ("/s/1.webm", 16)]
        (tmp_path / "other.txt").write_bytes(b"x.mp4,0\ny.mp4,0\n")
        assert read_list_file(tmp_path / "other.txt", "/r", sep=",") == [("/r/x.mp4", 0), ("/r/y.mp4", 0)]  # no warning
    messages = [r.getMessage() for r in caplog.records if r.name == "tubelet.data"]
    assert len(messages) == 3, messages
    assert re.search(r"list\.txt: 3 duplicate entries .* kept", messages[0])
    assert re.search(r"k\.csv: 1 duplicate entry .* kept", messages[1])
    assert re.search(r"train\.json: 1 duplicate entry .* kept", messages[2])


def test_class_folders_skip_hidden_entries(tmp_path: Path) -> None:
    files = ["b_cls/y.avi", "a_cls/x.mp4", "a_cls/sub/z.MKV", "a_cls/._x.mp4", "a_cls/.hidden.mp4",
             "a_cls/.cache/w.mp4", "a_cls/notes.txt", ".ipynb_checkpoints/v.mp4", ".git/objects/o.mp4",
             "caf\u00e9 cls/\u65e5\u672c.webm"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"")
    (tmp_path / "a_cls" / "folder.mp4").mkdir()  # a folder named like a video is not a video
    (tmp_path / "stray.mp4").write_bytes(b"")  # a file at the top is not a class
    samples, classes = read_class_folders(tmp_path)
    assert classes == ["a_cls", "b_cls", "caf\u00e9 cls"]
    assert samples == [(str(tmp_path / "a_cls/sub/z.MKV"), 0), (str(tmp_path / "a_cls/x.mp4"), 0),
                       (str(tmp_path / "b_cls/y.avi"), 1), (str(tmp_path / "caf\u00e9 cls/\u65e5\u672c.webm"), 2)]


def test_class_folders_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file.txt").write_bytes(b"")
    with pytest.raises(AnnotationError, match=r"file\.txt: a file, not a folder"):
        read_class_folders(tmp_path / "file.txt")
    (tmp_path / "only_hidden" / ".ipynb_checkpoints").mkdir(parents=True)
    with pytest.raises(AnnotationError, match=r"only_hidden: no class folders"):
        read_class_folders(tmp_path / "only_hidden")
    (tmp_path / "hidden_videos" / "a" / ".cache").mkdir(parents=True)
    (tmp_path / "hidden_videos" / "a" / ".cache" / "x.mp4").write_bytes(b"")
    with pytest.raises(AnnotationError, match=r"hidden_videos: no video files"):
        read_class_folders(tmp_path / "hidden_videos")
    locked = tmp_path / "locked"
    (locked / "a" / "sub").mkdir(parents=True)
    (locked / "a" / "x.mp4").write_bytes(b"")
    scandir = os.scandir

    def refuse(folder: str | os.PathLike = ".") -> object:  # chmod 000 does not stop root, so refuse by hand
        if os.path.basename(folder) == "sub":
            raise PermissionError(13, "Permission denied", os.fspath(folder))
        return scandir(folder)

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(AnnotationError, match=rf"{re.escape(str(locked / 'a' / 'sub'))}: cannot list the folder "
                                              r"\(Permission denied\)"):
        read_class_folders(locked)

VALID = {
    "list": b"a.mp4 1\ndir/b c.mp4 2\n# comment\n\nd.mp4 0\n",
    "list-csv": b"a.mp4,1\r\ndir/b c.mp4, 2\r\n\xc3\xa9.mp4,0\r\n",
    "kinetics": K_HEADER + K_ROWS + '"caf\u00e9 au lait",q,3,13,val\n'.encode(),
    "ssv2": json.dumps([HOLD, PUSH, HOLD | {"id": "3"}]).encode(),
}
HOSTILE = [b"\x00", b"\xff", b"\xe9", b"\xef\xbb\xbf", b"\xfe\xff", b"\n", b"\r", b",", b'"', b" ", b"#", b"-", b"+",
           b"inf", b"nan", b"1e400", b"9" * 40, b"\xc2\xb2", b"[", b"{", b"null", b"]", b"}", b":", b"\\", b"../",
           b"\x1b", b"\xe2\x80\xa8", b"0", b"true", b"-1"]


@pytest.mark.parametrize("name,reader", [("list.txt", _list), ("list.txt", _list_csv), ("k.csv", _kinetics),
                                         ("train.json", _ssv2)], ids=["list", "list-csv", "kinetics", "ssv2"])
def test_mutations_give_samples_or_annotation_errors(name: str, reader: Callable[[Path], list], tmp_path: Path,
                                                     request: pytest.FixtureRequest,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded byte flips, deletions, truncations and hostile insertions into a valid file: each read returns
    well-formed samples or raises AnnotationError naming the file, nothing else.

    The mutated bytes are served from memory (the file-level checks are above; rewriting a file 1000 times costs
    seconds on some file systems).
    """
    rng = random.Random(1234)
    valid = VALID[request.node.callspec.id]
    files = {"labels.json": _labels(), name: valid}
    monkeypatch.setattr(datasets, "_read_bytes", lambda path: files[os.path.basename(path)])
    outcomes = {"samples": 0, "errors": 0}
    for _ in range(1000):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 3)):
            # half the edits land at a digit, separator or quote: where labels, times and ids are parsed
            marks = [k for k, c in enumerate(data) if c in b'0123456789 ,:"\n']
            at = rng.choice(marks) + rng.randint(0, 1) if marks and rng.random() < 0.5 else rng.randrange(len(data) + 1)
            op = rng.randrange(4)
            if op == 0 and at < len(data):
                data[at] = rng.randrange(256)
            elif op == 1:
                del data[at:at + rng.randint(1, 8)]
            elif op == 2:
                data[at:at] = rng.choice(HOSTILE)
            else:
                del data[at:]
        files[name] = bytes(data)
        got = _outcome(lambda: reader(tmp_path))
        if isinstance(got, AnnotationError):
            assert str(tmp_path / name) in str(got), str(got)
            outcomes["errors"] += 1
        else:
            assert got and all(isinstance(p, str) and type(label) is int and 0 <= label <= datasets.MAX_LABEL
                               for p, label in got), got
            outcomes["samples"] += 1
    assert outcomes["samples"] >= 5 and outcomes["errors"] >= 5, outcomes  # the sweep exercised both outcomes


def test_class_name_files_are_read_like_annotation_files(tmp_path: Path) -> None:
    """``--labels FILE`` / ``tubelet.data.read_class_names``: a byte-order mark is dropped, bad files name themselves."""
    from tubelet.data import read_class_names as class_names

    (tmp_path / "names.txt").write_bytes(b"\xef\xbb\xbfabseiling\r\nzumba\n\n")
    assert class_names(str(tmp_path / "names.txt")) == ["abseiling", "zumba"]
    (tmp_path / "labels.json").write_bytes(b'\xef\xbb\xbf{"zumba": "1", "abseiling": "0"}')
    assert class_names(str(tmp_path / "labels.json")) == ["abseiling", "zumba"]
    for name, data, message in [
        ("gap.json", b'{"a": "0", "b": "2"}', r"gap\.json: class indices must be 0\.\.1, each once"),
        ("list.json", b'["a", "b"]', r"list\.json: expected a JSON object"),
        ("deep.json", b"[" * 100_000, r"deep\.json: not valid annotation JSON \(nested too deeply\)"),
        ("latin1.txt", b"caf\xe9\n", r"latin1\.txt:1: not a UTF-8 text file"),
        ("utf16.txt", "a\nb\n".encode("utf-16"), r"utf16\.txt: not a UTF-8 text file: it is UTF-16"),
        ("empty.txt", b"\n \n", r"empty\.txt: no class names"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AnnotationError, match=message):
            class_names(str(tmp_path / name))
