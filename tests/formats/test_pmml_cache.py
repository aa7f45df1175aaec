"""The PMML cache: what JPMML built from a document, kept so the next load skips JAXB, read only
through a deserialization filter, and never a different answer from reading the XML."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import modelpack
from conftest import models

pytest.importorskip("jpmml_evaluator")

from modelpack.formats.pmml import _cache  # noqa: E402


def _saved(tmp_path, name="forest_strings"):
    trained = models()[name]
    path = tmp_path / f"{name}.pmml"
    modelpack.save(trained.model, path, sample=trained.X)
    return path, trained.X


def _entry(path):
    modelpack.load(path)  # starts the JVM and installs the filter the entry's name depends on
    entry = _cache.entry_for(path.read_bytes())
    assert entry is not None
    return entry


def _outputs(model, X):
    return [model.predict(X), *([model.predict_proba(X)] if hasattr(model, "predict_proba") else [])]


@pytest.mark.parametrize("name", ["forest_strings", "pipeline_frame", "kmeans", "linear_regression"])
def test_a_load_from_the_kept_object_scores_exactly_as_one_from_the_xml(tmp_path, monkeypatch, name):
    path, X = _saved(tmp_path, name)
    monkeypatch.setenv("MODELPACK_NO_CACHE", "1")
    from_xml = modelpack.load(path)
    monkeypatch.delenv("MODELPACK_NO_CACHE")
    entry = _cache.entry_for(path.read_bytes())
    assert not entry.exists()  # turned off: nothing kept
    modelpack.load(path)
    assert entry.exists() and entry.stat().st_size > 0
    os.utime(entry, (1, 1))
    kept = modelpack.load(path)
    assert entry.stat().st_mtime > 1  # read (and marked recently used), not rebuilt from the XML
    for a, b in zip(_outputs(from_xml, X), _outputs(kept, X), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert kept.metadata.to_dict() == from_xml.metadata.to_dict()


def test_the_next_process_reads_the_entry_the_first_one_wrote(tmp_path):
    path, _ = _saved(tmp_path)
    env = {**os.environ, "MODELPACK_CACHE_DIR": str(tmp_path / "cache")}
    script = textwrap.dedent(f"""
        import numpy as np
        import modelpack
        from modelpack.formats.pmml import _cache
        model = modelpack.load({str(path)!r})
        print(_cache.entry_for(open({str(path)!r}, "rb").read()), list(model.predict(np.eye(4))))
    """)
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.split(" ", 1)
    entry = tmp_path / first[0]
    assert entry.parent == tmp_path / "cache" / "pmml" and entry.exists()
    assert oct(entry.parent.stat().st_mode & 0o777) == oct(0o700)  # private to the user
    os.utime(entry, (1, 1))
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert second == first and entry.stat().st_mtime > 1


def test_an_unreadable_entry_is_replaced_by_reading_the_xml(tmp_path):
    path, X = _saved(tmp_path)
    entry = _entry(path)
    expected = modelpack.load(path).predict(X)
    good = entry.read_bytes()
    for broken in (good[: len(good) // 2], b"\xac\xed\x00\x05garbage", b""):
        entry.write_bytes(broken)
        assert list(modelpack.load(path).predict(X)) == list(expected)
        assert entry.read_bytes() == good  # rewritten from the XML


def test_an_entry_java_cannot_open_is_no_error(tmp_path):
    path, X = _saved(tmp_path)
    entry = _entry(path)
    entry.unlink()
    entry.mkdir()  # stat succeeds, Java's FileInputStream fails (as for an entry removed in between)
    assert _cache.read(entry) is None
    assert list(modelpack.load(path).predict(X)) == list(models()["forest_strings"].model.predict(X))
    entry.rmdir()


def test_the_filter_refuses_a_class_outside_the_pmml_object_model(tmp_path):
    import jpype

    path, X = _saved(tmp_path)
    entry = _entry(path)
    pmml = _cache.read(entry)
    extension = jpype.JClass("org.dmg.pmml.Extension")
    harmless = jpype.JClass("org.dmg.pmml.PMML")  # the same document, twice: with a String, then a File
    _cache.write(entry, pmml.addExtensions(extension().setName("note").addContent(jpype.JString("text"))))
    assert isinstance(_cache.read(entry), harmless)  # the allowlist admits what the model holds
    _cache.write(entry, pmml.addExtensions(extension().setName("x").addContent(jpype.JClass("java.io.File")("/etc/passwd"))))
    assert _cache.read(entry) is None and not entry.exists()  # java.io.File: refused, the entry removed
    assert list(modelpack.load(path).predict(X)) == list(models()["forest_strings"].model.predict(X))


def test_the_filter_applies_to_the_cache_alone(tmp_path):
    import jpype

    _entry(_saved(tmp_path)[0])  # the filter factory is installed
    buffer = jpype.JClass("java.io.ByteArrayOutputStream")()
    out = jpype.JClass("java.io.ObjectOutputStream")(buffer)
    out.writeObject(jpype.JClass("java.io.File")("/tmp/x"))
    out.close()
    stream = jpype.JClass("java.io.ObjectInputStream")(jpype.JClass("java.io.ByteArrayInputStream")(buffer.toByteArray()))
    assert str(stream.readObject().getPath()) == "/tmp/x"  # another stream in the JVM: the JDK's rules, unchanged


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to give the entry to another user")
def test_an_entry_another_user_owns_is_not_read(tmp_path):
    path, X = _saved(tmp_path)
    entry = _entry(path)
    os.chown(entry, 65534, 65534)
    os.utime(entry, (1, 1))
    assert _cache.read(entry) is None
    assert list(modelpack.load(path).predict(X)) == list(models()["forest_strings"].model.predict(X))
    assert entry.stat().st_uid == os.getuid()  # not read (a read writes nothing): rebuilt from the XML, now ours


def test_the_folder_is_kept_under_its_budget_least_recently_used_first(tmp_path):
    for age, name in enumerate(["old", "middle", "new"]):
        (tmp_path / f"{name}.ser").write_bytes(b"x" * 100)
        os.utime(tmp_path / f"{name}.ser", (1000 + age, 1000 + age))
    (tmp_path / "other.txt").write_bytes(b"y" * 500)
    (tmp_path / ".new.ser.123-abcd.part.ser").write_bytes(b"z" * 500)  # another process's entry, being written
    os.utime(tmp_path / ".new.ser.123-abcd.part.ser", (1, 1))
    _cache._evict(tmp_path, 250)
    left = ["middle.ser", "new.ser", "other.txt", ".new.ser.123-abcd.part.ser"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(left)
    _cache._evict(tmp_path, 200)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(left)


def test_where_the_cache_lives(monkeypatch, tmp_path):
    monkeypatch.delenv("MODELPACK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache.folder() == tmp_path / "xdg" / "modelpack" / "pmml"
    monkeypatch.setenv("MODELPACK_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.folder() == tmp_path / "mine" / "pmml"
    for off, expected in (("1", None), ("yes", None), ("0", tmp_path / "mine" / "pmml"), ("", tmp_path / "mine" / "pmml")):
        monkeypatch.setenv("MODELPACK_NO_CACHE", off)
        assert _cache.folder() == expected
    monkeypatch.delenv("MODELPACK_NO_CACHE")
    monkeypatch.delenv("MODELPACK_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache.folder() == tmp_path / "home" / ".cache" / "modelpack" / "pmml"
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # no HOME, no passwd entry: "~" stays "~"
    assert _cache.folder() is None  # off, rather than a folder named "~" wherever the process runs


def test_without_the_filter_nothing_is_kept_and_the_xml_is_read(tmp_path):
    """Another filter factory installed first in the JVM: the cache cannot filter its reads, so it is off."""
    path, _ = _saved(tmp_path)
    script = textwrap.dedent(f"""
        import jpype, numpy as np, modelpack
        from modelpack.formats.pmml._java import ensure_jvm
        ensure_jvm()

        @jpype.JImplements("java.util.function.BinaryOperator")
        class Theirs:
            @jpype.JOverride
            def apply(self, current, requested):
                return requested

        jpype.JClass("java.io.ObjectInputFilter$Config").setSerialFilterFactory(Theirs())
        print(list(modelpack.load({str(path)!r}).predict(np.eye(4))))
    """)
    env = {**os.environ, "MODELPACK_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(list(models()["forest_strings"].model.predict(np.eye(4))))
    assert not (tmp_path / "cache" / "pmml").exists() or not list((tmp_path / "cache" / "pmml").iterdir())
