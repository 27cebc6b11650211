"""Image uploads: each bad kind is refused before training with a message naming the archive and the member."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from factory.catalog import load_model_spec
from factory.image_validation import validate_image_archive
from factory.model_spec import ImageDataSchema, ImageSpec, ModelSpec

ROOT = Path(__file__).resolve().parents[2]


def _png(size=(8, 8), mode="L", fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color=128 if mode == "L" else (10, 20, 30)).save(out, format=fmt)
    return out.getvalue()


def _spec(tmp_path: Path, **data) -> ModelSpec:
    base = load_model_spec(ROOT / "models" / "wine_cultivar")
    fields = {"labels": ("0", "1"), "max_mb": 5, "max_members": 100, "max_uncompressed_mb": 5, "min_per_label": 2,
              "image": ImageSpec(width=8, height=8, mode="L"), **data}
    return replace(base, name="digits", data=ImageDataSchema(**fields))


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return path


GOOD = {"0/a.png": _png(), "0/b.png": _png(), "1/c.png": _png(), "1/d.png": _png()}


def _errors(tmp_path: Path, members: dict[str, bytes], **data) -> list[str]:
    archive = _zip(tmp_path / "up.zip", members)
    work = tmp_path / "runs" / "r1" / "extract"
    errors = validate_image_archive(archive, _spec(tmp_path, **data), "incoming/digits/up.zip", work)
    assert not work.exists()  # the run-scoped folder is removed afterwards
    for e in errors:
        assert str(e).startswith("archive incoming/digits/up.zip: ")
    return [str(e) for e in errors]


def test_a_good_image_folder_passes(tmp_path):
    assert _errors(tmp_path, GOOD) == []


def test_a_file_that_is_not_an_image(tmp_path):
    errors = _errors(tmp_path, {**GOOD, "1/e.png": b"not a png at all"})
    assert errors == ["archive incoming/digits/up.zip: member '1/e.png': expected a PNG image that decodes, got an "
                      + errors[0].split("got an ", 1)[1]]


def test_a_truncated_image_fails_the_decode(tmp_path):
    big = io.BytesIO()
    Image.effect_noise((8, 8), 50).save(big, format="PNG")
    errors = _errors(tmp_path, {**GOOD, "1/e.png": big.getvalue()[:-20]})
    assert len(errors) == 1 and "member '1/e.png': expected a PNG image that decodes" in errors[0]


def test_a_jpeg_named_png(tmp_path):
    errors = _errors(tmp_path, {**GOOD, "1/e.png": _png(fmt="JPEG")})
    assert errors == ["archive incoming/digits/up.zip: member '1/e.png': expected a PNG image as its name says, "
                      "got a JPEG image"]


def test_wrong_size_and_wrong_mode(tmp_path):
    errors = _errors(tmp_path, {**GOOD, "1/big.png": _png(size=(16, 8)), "1/rgb.png": _png(mode="RGB")})
    assert "member '1/big.png': expected an image of 8x8 pixels, got 16x8" in errors[0]
    assert "member '1/rgb.png': expected an image in mode L, got mode RGB" in errors[1]


def test_a_label_not_in_the_model_and_too_few_per_label(tmp_path):
    errors = _errors(tmp_path, {"0/a.png": _png(), "0/b.png": _png(), "1/c.png": _png(), "7/x.png": _png()})
    assert "member '7/x.png': expected a label among 0, 1, got '7'" in errors[0]
    assert errors[1] == "archive incoming/digits/up.zip: expected at least 2 images of label 1, got 1"


def test_a_member_outside_the_image_folder_layout(tmp_path):
    errors = _errors(tmp_path, {**GOOD, "loose.png": _png(), "0/notes.txt": b"hi"})
    assert any("member 'loose.png': expected <label>/<name>.png|jpg" in e for e in errors)
    assert any("member '0/notes.txt': expected an image (.png, .jpg), got another file" in e for e in errors)


def test_archive_level_refusals_come_through(tmp_path):
    assert "a '..' part (zip-slip)" in _errors(tmp_path, {**GOOD, "../x.png": _png()})[0]
    assert "at most 3 members" in _errors(tmp_path, GOOD, max_members=3)[0]
    bomb = {"0/a.png": b"\0" * 3_000_000}
    assert "uncompressed bytes" in _errors(tmp_path, bomb, max_uncompressed_mb=1)[0]
    assert "an archive of at most 0.0001 MB" in _errors(tmp_path, GOOD, max_mb=0.0001)[0]


def _detection(tmp_path: Path, lines: list[dict | str], extra: dict[str, bytes] | None = None) -> list[str]:
    rgb = _png(size=(32, 32), mode="RGB", fmt="JPEG")
    members = {"images/1.jpg": rgb, "images/2.jpg": rgb, **(extra or {}),
               "annotations.jsonl": "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()}
    return _errors(tmp_path, members, labels=("circle", "square"), min_per_label=1, annotations="annotations.jsonl",
                   image=ImageSpec(width=32, height=32, mode="RGB"))


def _box(label="circle", **coords) -> dict:
    return {"label": label, "topX": 0.1, "topY": 0.1, "bottomX": 0.5, "bottomY": 0.5, "isCrowd": 0, **coords}


def test_good_detection_annotations_pass(tmp_path):
    lines = [{"image_url": "images/1.jpg", "label": [_box()]},
             {"image_url": "azureml://datastores/d/paths/images/2.jpg", "label": [_box("square")]}]
    assert _detection(tmp_path, lines) == []


def test_an_annotation_naming_a_missing_image(tmp_path):
    lines = [{"image_url": "images/1.jpg", "label": [_box()]},
             {"image_url": "images/2.jpg", "label": [_box("square")]},
             {"image_url": "images/9.jpg", "label": [_box()]}]
    errors = _detection(tmp_path, lines)
    assert errors == ["archive incoming/digits/up.zip: member 'annotations.jsonl line 3': expected an image_url "
                      "naming an image of the archive, got 'images/9.jpg', which is missing"]


@pytest.mark.parametrize(("box", "expected"), [
    (_box(bottomX=1.2), "bottomX in [0, 1] (normalised), got 1.2 (a box outside the image)"),
    (_box(topY=-0.1), "topY in [0, 1] (normalised), got -0.1"),
    (_box(topX="0.1"), "topX a number in [0, 1], got '0.1'"),
    (_box(bottomX=0.05), "bottomX > topX and bottomY > topY"),
    (_box("triangle"), "a label among circle, square, got 'triangle'"),
])
def test_a_bad_box_is_named_with_its_line(tmp_path, box, expected):
    lines = [{"image_url": "images/1.jpg", "label": [_box(), box]},
             {"image_url": "images/2.jpg", "label": [_box("square")]}]
    errors = _detection(tmp_path, lines)
    assert len(errors) == 1 and "member 'annotations.jsonl line 1 box 1': expected " in errors[0]
    assert expected in errors[0]


def test_bad_jsonl_a_missing_annotations_file_and_an_image_without_a_line(tmp_path):
    errors = _detection(tmp_path, ["{not json", {"image_url": "images/2.jpg", "label": [_box("square")]}])
    assert "member 'annotations.jsonl line 1': expected one JSON object per line, got invalid JSON" in errors[0]
    assert any("member 'images/1.jpg': expected a line in annotations.jsonl for every image" in e for e in errors)
    assert any("expected at least 1 boxes of label circle, got 0" in e for e in errors)
    archive = _zip(tmp_path / "none.zip", {"images/1.jpg": _png(size=(32, 32), mode="RGB", fmt="JPEG")})
    spec = _spec(tmp_path, labels=("circle",), annotations="annotations.jsonl", image=ImageSpec())
    found = validate_image_archive(archive, spec, "up.zip", tmp_path / "w2")
    assert "expected an annotations file annotations.jsonl at the archive root, got none" in str(found[0])


def test_a_valid_archive_reports_its_images_per_label_for_the_model_card(tmp_path):
    from collections import Counter

    from factory.pinning import FetchedData, sha256_of
    from factory.steps import data_facts

    archive = _zip(tmp_path / "up.zip", {**GOOD, "1/e.png": _png()})
    counts: Counter[str] = Counter()
    assert validate_image_archive(archive, _spec(tmp_path), "up.zip", tmp_path / "w", per_label=counts) == []
    assert counts == {"0": 2, "1": 3}
    data = FetchedData(archive, "incoming/digits/up.zip", "http://x/incoming/digits/up.zip", "0x1", "",
                       archive.stat().st_size, sha256_of(archive), "2027-01-01T00:00:00+00:00")
    facts = data_facts(data, table=False, per_label=dict(counts))
    assert facts.per_label == {"0": 2, "1": 3} and facts.rows is None


def test_detection_counts_boxes_per_label(tmp_path):
    from collections import Counter

    rgb = _png(size=(32, 32), mode="RGB", fmt="JPEG")
    lines = [{"image_url": "images/1.jpg", "label": [_box(), _box("square")]},
             {"image_url": "images/2.jpg", "label": [_box()]}]
    archive = _zip(tmp_path / "up.zip", {"images/1.jpg": rgb, "images/2.jpg": rgb,
                                         "annotations.jsonl": "\n".join(json.dumps(x) for x in lines).encode()})
    spec = _spec(tmp_path, labels=("circle", "square"), min_per_label=1, annotations="annotations.jsonl",
                 image=ImageSpec(width=32, height=32, mode="RGB"))
    counts: Counter[str] = Counter()
    assert validate_image_archive(archive, spec, "up.zip", tmp_path / "w", per_label=counts) == []
    assert counts == {"circle": 2, "square": 1}
