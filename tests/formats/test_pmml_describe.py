"""Describing PMML (`info`, and every load before JPMML reads the bytes) skips the content of a tree's
nodes (and other undescribed subtrees) unparsed: it must describe every document exactly as the whole
parse does, and say the same when it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.parsers import expat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack import CorruptFileError, UntrustedContentError
from modelpack.formats.pmml import _describe
from modelpack.formats.pmml._describe import (
    _describe_skipping,
    _describe_whole,
    _end_of_subtree,
    _Unsure,
    describe_document,
)

CORPUS = Path(__file__).parents[1] / "data" / "foreign" / "pmml"
NAMESPACE = "http://www.dmg.org/PMML-4_4"


def _both(path: Path) -> tuple[object, object]:
    """(whole parse, what info and load use) of ``path``: a description, or the error's type and words;
    the second by the path (``info``) and by the bytes (a load) must be the same."""
    def run(describe: Any, *data: bytes) -> object:
        try:
            return describe(path, *data)
        except (CorruptFileError, UntrustedContentError) as exc:
            return type(exc), str(exc)
    by_path, by_bytes = run(describe_document), run(describe_document, path.read_bytes())
    assert by_path == by_bytes
    return run(_describe_whole), by_path


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_every_foreign_document_is_described_alike(path):
    whole, skipping = _both(path)
    assert skipping == whole


# --- documents made up to trip the skipping: comments, CDATA and instructions whose text looks like
# tags, prefixed and empty opaque elements, quoted '>' and '/>', whitespace inside tags, nesting ---

OPAQUE = sorted(_describe._OPAQUE)
NAMES = [*OPAQUE, "Extension", "SimplePredicate", "True", "ScoreDistribution", "Output", "OutputField",
         "MiningSchema", "MiningField", "ModelVerification", "InlineTable", "row", "TreeModel", "Segment"]
SPACE = st.sampled_from([" ", "\n", "\t", "\r\n  "])
TEXTS = st.sampled_from(["x", "</Node>", "<Node>", "<Node/>", "</NeuralLayer>", "a > b", "]]", "?", "-"])


@st.composite
def attributes(draw):
    pairs = draw(st.lists(st.tuples(st.sampled_from(["id", "name", "value", "score", "feature", "usageType"]),
                                    st.sampled_from(["1", "a>b", "x/>", "</Node>".replace("<", "&lt;"), "probability",
                                                     "target", "'q'", ""])), max_size=3, unique_by=lambda p: p[0]))
    out = ""
    for key, value in pairs:
        quote = draw(st.sampled_from(['"', "'"])) if '"' not in value and "'" not in value else '"' if "'" in value else "'"
        out += f"{draw(SPACE)}{key}{draw(st.sampled_from(['=', ' = ']))}{quote}{value}{quote}"
    return out


@st.composite
def misc(draw):
    text = draw(TEXTS)
    kind = draw(st.sampled_from(["comment", "cdata", "pi", "text"]))
    if kind == "comment":
        return f"<!-- {text.replace('-', '')} -->"
    if kind == "cdata":
        return f"<![CDATA[{text.replace(']]', '')}]]>"
    if kind == "pi":
        return f"<?note {text.replace('?', '')}?>"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def elements(depth: int):
    @st.composite
    def element(draw):
        name = draw(st.one_of(st.just("Node"), st.sampled_from(NAMES)))  # trees nest nodes in nodes
        prefix = draw(st.sampled_from(["", "", "", "p:"]))
        attrs = draw(attributes())
        if depth == 0 or draw(st.booleans()):
            return f"<{prefix}{name}{attrs}{draw(st.sampled_from(['', ' ', chr(10)]))}/>"
        children = draw(st.lists(st.one_of(elements(depth - 1), misc()), max_size=4))
        close = draw(st.sampled_from(["", " ", "\n"]))
        return f"<{prefix}{name}{attrs}>{''.join(children)}</{prefix}{name}{close}>"
    return element()


@st.composite
def documents(draw):
    """A forest of made-up trees, each segment's Output after the tree before it: a skip that ran
    past its tree's end would lose what the next segment and the verification rows describe."""
    header = "".join(draw(st.lists(st.one_of(elements(2), misc()), max_size=2)))
    segments = ""
    for i in range(draw(st.integers(1, 3))):
        nodes = "".join(draw(st.lists(st.one_of(elements(4), misc()), max_size=5)))
        segments += (f'<Segment id="{i}"><True/><TreeModel functionName="regression"><MiningSchema><MiningField '
                     f'name="x"/></MiningSchema><Output><OutputField name="out{i}" feature="predictedValue"/></Output>'
                     f'<Node id="root">{nodes}<True/></Node></TreeModel></Segment>')
    verification = '<ModelVerification recordCount="2"><VerificationFields><VerificationField field="x"/>' \
                   "</VerificationFields><InlineTable><row/><row/></InlineTable></ModelVerification>"
    tail = draw(st.sampled_from(["", verification]))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PMML xmlns="{NAMESPACE}" xmlns:p="{NAMESPACE}" version="4.4">'
            f'<Header><Application name="gen" version="1"/>{header}</Header>'
            '<DataDictionary><DataField name="x" optype="continuous" dataType="double"/></DataDictionary>'
            '<MiningModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>'
            f'<Segmentation multipleModelMethod="sum">{segments}</Segmentation>{tail}</MiningModel></PMML>')


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents())
def test_skipping_describes_what_the_whole_parse_does(tmp_path, document):
    path = tmp_path / "m.pmml"
    path.write_text(document, encoding="utf-8")
    whole, skipping = _both(path)
    assert skipping == whole


@settings(max_examples=300, deadline=None)
@given(document=documents())
def test_the_end_of_a_subtree_is_where_the_parser_ends_it(document):
    """Every opaque element's end, found by counting tags, is the byte where expat reports it; None
    only when the subtree holds a comment, CDATA section or instruction."""
    data = document.encode()
    parser = expat.ParserCreate(namespace_separator=" ")
    opened: list[tuple[str, int, int]] = []  # (name, start tag's byte index, content's byte index)
    ends: dict[int, int] = {}  # start tag's byte index -> end tag's

    def start(name: str, attrs: dict[str, str]) -> None:
        at = parser.CurrentByteIndex
        opened.append((name, at, _after_tag(data, at)))

    def end(name: str) -> None:
        for i in range(len(opened) - 1, -1, -1):
            if opened[i][0] == name and opened[i][1] not in ends:
                ends[opened[i][1]] = parser.CurrentByteIndex
                break

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.Parse(data, True)
    for name, at, content in opened:
        local = name.rsplit(" ", 1)[-1]
        tag = data[at + 1:content - 1]
        if local not in OPAQUE or tag.endswith(b"/") or tag.split()[0] != local.encode():
            continue  # prefixed opaque elements are left to the parser
        found = _end_of_subtree(data, local.encode(), content)
        inside = data[content:ends[at]]
        if b"<!" in inside or b"<?" in inside:
            assert found is None
        else:
            assert found == ends[at], (tag, inside[:200])


def _after_tag(data: bytes, at: int) -> int:
    """The byte after the tag that starts at ``at``, a '>' inside quotes not ending it (a plain loop,
    not the code under test)."""
    quote = None
    for i in range(at, len(data)):
        char = data[i:i + 1]
        if quote is not None:
            quote = None if char == quote else quote
        elif char in (b'"', b"'"):
            quote = char
        elif char == b">":
            return i + 1
    raise AssertionError("a tag without its '>'")


def _forest(trees: int) -> str:
    node = '<Node score="1"><SimplePredicate field="x" operator="lessThan" value="0"/></Node>'
    tree = (f'<Segment id="{{}}"><True/><TreeModel functionName="regression"><MiningSchema><MiningField name="x"/>'
            f'</MiningSchema><Node><True/>{node * 3}</Node></TreeModel></Segment>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PMML xmlns="{NAMESPACE}" version="4.4"><Header/>'
            '<DataDictionary><DataField name="x" optype="continuous" dataType="double"/><DataField name="y" '
            'optype="continuous" dataType="double"/></DataDictionary><MiningModel functionName="regression">'
            '<MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>'
            '<Segmentation multipleModelMethod="average">'
            + "".join(tree.format(i) for i in range(trees)) + "</Segmentation></MiningModel></PMML>")


def test_a_forest_is_read_skipping_its_nodes(tmp_path):
    """The skipping read vouches for a forest as producers write it (it would otherwise fall back to
    the whole parse and this test would say so), and a document cut inside a tree, or broken after
    one, fails with the whole parse's words and line."""
    document = _forest(50)
    path = tmp_path / "forest.pmml"
    path.write_text(document)
    described = _describe_skipping(path, document.encode())
    assert described.segments == 50 and described.inputs == ["x"] and described.target == "y"
    assert described == _describe_whole(path, document.encode())

    path.write_text(document[: len(document) // 2])
    whole, skipping = _both(path)
    assert isinstance(whole, tuple) and whole[0] is CorruptFileError and skipping == whole

    broken = document.replace("</Segmentation>", "\n\n</Segmentation>\n</Header>")  # the error is after every tree
    path.write_text(broken)
    whole, skipping = _both(path)
    assert whole[0] is CorruptFileError and "line 5, column 2" in whole[1] and skipping == whole


@pytest.mark.parametrize("encoding, padding", [("utf-16", 0), ("utf-8-sig", 0), ("latin-1", 0), ("cp037", 0),
                                               ("cp037", 4000)])
def test_other_encodings(tmp_path, encoding, padding):
    """A document whose markup is not ASCII bytes is parsed whole (EBCDIC names itself in an ASCII
    declaration, however long, and expat refuses it: so must the skipping read); one whose markup
    is, is skipped."""
    text = _forest(3).replace('encoding="UTF-8"', " " * padding + f'encoding="{encoding.replace("-sig", "")}"')
    text = text.replace("<Header/>", '<Header description="café"/>')
    split = text.index("?>") + 2
    data = text.encode(encoding) if encoding != "cp037" else text[:split].encode() + text[split:].encode("cp037")
    path = tmp_path / "m.pmml"
    path.write_bytes(data)
    whole, skipping = _both(path)
    assert skipping == whole
    assert whole[0] is CorruptFileError if encoding == "cp037" else whole.segments == 3
    if encoding in ("utf-8-sig", "latin-1"):
        assert _describe_skipping(path, data).description == "café"
    else:
        with pytest.raises(_Unsure):
            _describe_skipping(path, data)


def test_a_doctype_is_refused_before_anything_is_skipped(tmp_path):
    path = tmp_path / "m.pmml"
    path.write_text(_forest(2).replace("<PMML", '<!DOCTYPE PMML [<!ENTITY e "x">]>\n<PMML'))
    with pytest.raises(UntrustedContentError, match="refuses DTDs"):
        describe_document(path)
