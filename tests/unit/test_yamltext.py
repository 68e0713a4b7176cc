"""The C emitter changes the speed of ``hera-build templates``, never its bytes: every rendered file is what the
pure-Python emitter wrote before."""

from __future__ import annotations

import random
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hera_build.core.project import load_project
from hera_build.templates.build import TemplateOptions, build_templates
from hera_build.templates.output import render
from hera_build.templates.yamltext import C_EMITTER, _PyDumper, c_safe, dump_yaml
from tests.support.genproject import generate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not C_EMITTER, reason="PyYAML without libyaml: only the Python emitter exists")


class _Before(yaml.SafeDumper):
    """The renderer as it was: PyYAML's Python emitter, ``|`` blocks for multi-line strings."""


_Before.add_representer(
    str,
    lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None),
)


def _before(document: Any) -> str:
    return yaml.dump(document, Dumper=_Before, sort_keys=False, default_flow_style=False, width=120)


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "gen"
    generate(root, 500, package="genyamltext")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [name for name in sys.modules if name.startswith("genyamltext")]:
        del sys.modules[name]


@pytest.mark.parametrize("example", ["ml-pipeline", "data-utils"])
def test_the_examples_render_byte_for_byte_as_before(example: str) -> None:
    project = load_project(ROOT / "examples" / example)
    objects = build_templates(TemplateOptions(project_dir=project.root), project).objects

    assert objects
    for obj in objects:
        assert c_safe(obj.manifest), "the examples take the fast path"
        assert render(obj.manifest) == _before(obj.manifest)


def test_a_generated_project_of_500_templates_renders_byte_for_byte_as_before(generated: Path) -> None:
    project = load_project(generated)
    objects = build_templates(TemplateOptions(project_dir=generated), project).objects

    assert len(objects) == 500
    assert all(c_safe(obj.manifest) for obj in objects)
    assert [render(obj.manifest) for obj in objects] == [_before(obj.manifest) for obj in objects]


_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " " * 15 + "\n" * 3 + "\t"


def _strings(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    tricky = ["", " ", "\n", "a\n\n", "null", "yes", "0x1", "- a", "a: b", "#x", "{{inputs.parameters.x}}", "~", "010"]
    yield from tricky
    for _ in range(count):
        yield "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 300)))
    yield from ["héllo", "emoji 🎉\nline", "a\r\nb", "x" * 200 + " \n" + "y " * 100]


def _python_emitter(document: Any) -> str:
    return yaml.dump(document, Dumper=_PyDumper, sort_keys=False, default_flow_style=False, width=120)


def test_whatever_a_string_holds_the_output_is_the_python_emitters() -> None:
    fast = 0
    for text in _strings(seed=12, count=300):
        documents: list[dict[str, Any]] = [
            {"k": text},
            {"spec": {"templates": [{"script": {"source": text}}, text]}},
            {"metadata": {"annotations": {text.replace("\n", "") or "k": text}}},
        ]
        for document in documents:
            fast += c_safe(document)
            assert dump_yaml(document) == _python_emitter(document), repr(text)
    assert fast > 150, "many documents take the C emitter"


# Strings that YAML 1.1 (PyYAML's resolvers, or the y/n it leaves out) or Go's readers (Kubernetes, Argo) take
# for a bool, null or number when written plain.
AMBIGUOUS = [
    *("y", "Y", "n", "N", "yes", "No", "on", "OFF", "true", "False", "~", "null", "NULL", ""),
    *("0", "12", "08", "-08", "+1", "010", "0o17", "0O17", "0x1f", "0X1F", "0b101", "0B101", "1_000", "1:20"),
    *("1.5", "1.", ".5", "1e3", "1E+3", "-1e-3", ".5e3", "1.5e3", ".inf", "-.Inf", ".NaN"),
]
ORDINARY = ["train-pipeline-v0-3-0", "python", "main", "y1", "no-cache", "1.2.3", "v1", "0.3.0_local.7", "e3", "x1e3"]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_strings_another_reader_takes_for_a_non_string_are_quoted_as_values_and_keys(text: str) -> None:
    document = {"k": text, text or "e": [text]}
    quoted = f"'{text}'"
    expected = f"k: {quoted}\n{quoted if text else 'e'}:\n- {quoted}\n"

    assert c_safe(document), "the C emitter quotes them as the Python emitter does"
    assert dump_yaml(document) == _python_emitter(document) == expected
    assert yaml.safe_load(dump_yaml(document)) == document


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_names_stay_plain_and_byte_identical(text: str) -> None:
    document = {"k": text, text: [text]}
    assert dump_yaml(document) == _before(document) == f"k: {text}\n{text}:\n- {text}\n"


def test_values_that_are_not_strings_are_written_as_before() -> None:
    document = {"b": True, "none": None, "i": 8, "f": 1e20, "x": 0.5, "neg": -3}
    assert dump_yaml(document) == _before(document) == "b: true\nnone: null\ni: 8\nf: 1.0e+20\nx: 0.5\nneg: -3\n"


def test_documents_the_c_emitter_would_write_differently_are_recognized() -> None:
    folded = "line\n" + "y " * 100 + "\n"  # double-quoted (a line ends in a space) and longer than the width
    assert not c_safe({"k": folded}) and not c_safe({"k": "héllo"}) and not c_safe({"k": "a\tb"})
    assert not c_safe({"x" * 101: 1}) and not c_safe({"a\nb": 1}) and not c_safe({"k": object()})
    assert c_safe({"k": ["script\n  indented\n", 1, 2.5, True, None], "x" * 100: "plain words " * 30})
    assert yaml.dump({"k": folded}, Dumper=yaml.CSafeDumper, width=120) != yaml.dump({"k": folded}, width=120)


# Not the empty key: libyaml writes `'': v` where PyYAML wrote `? ''`, and hera-build has written libyaml's since it
# took the C emitter (Kubernetes objects have no empty keys); this change keeps that.
_KEYS = st.text(alphabet=_ALPHABET, min_size=1, max_size=12) | st.sampled_from(["name", "a" * 101, "null", "on", "é"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=_ALPHABET, max_size=150)
    | st.sampled_from(["", "yes", "010", "1e3", "~", "- x", "{{inputs.parameters.x}}", "a\n", "b \n", "ü"])
)
_DOCUMENTS = st.dictionaries(
    _KEYS,
    st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4)),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(_DOCUMENTS)
def test_any_document_is_written_as_the_python_emitter_writes_it(document: dict[str, Any]) -> None:
    assert dump_yaml(document) == _python_emitter(document)


def test_a_container_met_twice_is_an_anchor_as_before() -> None:
    shared: dict[str, Any] = {"image": "busybox", "args": ["a"]}
    document = {"spec": {"a": shared, "b": shared, "c": [shared["args"], shared["args"]]}}
    assert "&id001" in _python_emitter(document)
    assert dump_yaml(document) == _python_emitter(document)
