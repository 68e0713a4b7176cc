"""Validate Argo objects against the ``openAPIV3Schema`` of their CustomResourceDefinitions.

A v4 API server enforces the full CRD schema, so checking it here turns a failed ``kubectl apply`` into a
build error that names the field. Kubernetes writes these schemas in its *structural schema* dialect of
OpenAPI v3, which is converted to JSON Schema (Draft 7) once per CRD:

- ``x-kubernetes-int-or-string: true`` accepts an integer or a string (a ``pattern`` applies to strings only);
- ``nullable: true`` accepts ``null``. Elsewhere ``null`` is an error: the API server would silently drop it;
- an object with ``properties`` (or with neither ``properties`` nor ``additionalProperties``) rejects unknown
  fields, unless it is marked ``x-kubernetes-preserve-unknown-fields``: the API server prunes or rejects them;
- ``x-kubernetes-list-type: set`` and ``map`` (keyed by ``x-kubernetes-list-map-keys``, defaults applied)
  reject duplicate entries, as the API server does;
- the root ``metadata`` (``type: object`` in CRDs; the API server checks it as ObjectMeta) gets a small
  ObjectMeta schema (known fields only, string-valued labels and annotations); ``apiVersion`` and ``kind``
  are always allowed at the root;
- ``format`` (int32, int64, byte, date-time, …) is dropped: those are not JSON Schema formats;
- ``x-kubernetes-validations`` (CEL rules) cannot be run here and are ignored. :mod:`hera_build.templates.lint` checks
  the rules Argo's CRDs carry (one template type, ``depends`` with ``dependencies``, …) in Python.

The CRDs are large (megabytes of YAML), so :meth:`CrdSchemas.from_files` caches what it loaded per process,
keyed by the files' paths, sizes and modification times.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from hera_build.errors import ConfigError
from hera_build.templates.lint import Finding, format_path, object_label

CRD_DIR_ENV = "HERA_BUILD_CRD_DIR"
_CRD_SUFFIXES = (".yaml", ".yml", ".json")
_KEPT_KEYWORDS = frozenset(
    {
        "type",
        "required",
        "enum",
        "pattern",
        "maxLength",
        "minLength",
        "maximum",
        "minimum",
        "multipleOf",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
    }
)
_LIST_MAP_KEYWORD = "x-hera-build-list-map"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_NULLABLE_STRING = {"type": ["string", "null"]}
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "selfLink": {"type": "string"},
        "creationTimestamp": _NULLABLE_STRING,
        "deletionTimestamp": _NULLABLE_STRING,
        "deletionGracePeriodSeconds": {"type": "integer"},
    },
}
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: what is wrong and where (``line 3, column 5: …``)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem or error.context or 'syntax error'}"
    return " ".join(str(error).split())


def default_crd_paths(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The CRD files in ``$HERA_BUILD_CRD_DIR``, or none when it is unset (the CRDs are not shipped)."""
    value = (os.environ if environ is None else environ).get(CRD_DIR_ENV, "")
    if not value:
        return ()
    directory = Path(value)
    if not directory.is_dir():
        raise ConfigError(
            f"{CRD_DIR_ENV}={value} is not a directory",
            "point it at a folder of CRD YAML files (kubectl get crd workflowtemplates.argoproj.io -o yaml)",
        )
    paths = tuple(sorted(p for p in directory.iterdir() if p.suffix in _CRD_SUFFIXES and p.is_file()))
    if not paths:
        raise ConfigError(
            f"{CRD_DIR_ENV}={value} holds no .yaml, .yml or .json files",
            "save the Argo CRDs there, or unset the variable",
        )
    return paths


class CrdSchemas:
    """JSON Schema validators for custom resources, one per ``(apiVersion, kind)``, built from their CRDs."""

    def __init__(self, schemas: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        """Take converted JSON Schemas; use :meth:`from_files` or :meth:`from_documents` to read CRDs."""
        self._schemas = dict(schemas)
        self._validators: dict[tuple[str, str], Validator] = {
            key: _CrdValidator(schema) for key, schema in self._schemas.items()
        }

    @classmethod
    def from_files(cls, paths: Iterable[str | os.PathLike[str]]) -> CrdSchemas:
        """Read CRD files (YAML or JSON; several documents or a ``kind: List``); cached per process."""
        keys = []
        for path in paths:
            resolved = Path(path).resolve()
            try:
                stat = resolved.stat()
            except OSError as error:
                raise ConfigError(f"cannot read CRD file {path}: {error.strerror}", "check the path") from error
            keys.append((str(resolved), stat.st_mtime_ns, stat.st_size))
        return _load_files(tuple(keys))

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]], *, source: str = "<documents>") -> CrdSchemas:
        """Build from parsed CRD documents; documents of other kinds are skipped."""
        return cls(_schemas_of_documents(documents, source))

    @property
    def kinds(self) -> frozenset[tuple[str, str]]:
        """The ``(apiVersion, kind)`` pairs that have a schema."""
        return frozenset(self._schemas)

    def schema(self, api_version: str, kind: str) -> Mapping[str, Any] | None:
        """The converted JSON Schema for a kind, or ``None``."""
        return self._schemas.get((api_version, kind))

    def validate(self, obj: Mapping[str, Any]) -> list[Finding]:
        """Everything the API server's schema check would reject in ``obj``, sorted by path."""
        name = object_label(obj)
        key = (str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        validator = self._validators.get(key)
        if validator is None:
            known = ", ".join(f"{v} {k}" for v, k in sorted(self._validators)) or "none"
            return [
                Finding(
                    name, "", f"no CRD schema for apiVersion {key[0]!r} kind {key[1]!r} (known: {known})", source="crd"
                )
            ]
        findings = [f for error in validator.iter_errors(obj) for f in _findings_of_error(name, error)]
        return sorted(set(findings), key=lambda f: (f.path, f.message))


@functools.lru_cache(maxsize=8)
def _load_files(keys: tuple[tuple[str, int, int], ...]) -> CrdSchemas:
    """Parse and convert once per set of unchanged files: parsing the Argo CRDs takes about a second each."""
    schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
    for path, _, _ in keys:
        schemas.update(_schemas_of_documents(_read_documents(Path(path)), path))
    return CrdSchemas(schemas)


def _read_documents(path: Path) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open("rb") as stream:
            return list(yaml.load_all(stream, Loader=loader))
    except OSError as error:
        raise ConfigError(f"cannot read CRD file {path}: {error.strerror}", "check the path") from error
    except yaml.YAMLError as error:
        raise ConfigError(
            f"CRD file {path} is not valid YAML: {yaml_problem(error)}", "re-export it with kubectl"
        ) from error


def _schemas_of_documents(documents: Iterable[Any], source: str) -> dict[tuple[str, str], Mapping[str, Any]]:
    schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
    for document in _crd_documents(documents):
        schemas.update(_schemas_of_crd(document, source))
    if not schemas:
        raise ConfigError(
            f"{source} holds no CustomResourceDefinition with an openAPIV3Schema",
            "use full CRDs, e.g. kubectl get crd workflowtemplates.argoproj.io -o yaml",
        )
    return schemas


def _crd_documents(documents: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    """CRDs among ``documents``, looking inside ``kind: List`` (what ``kubectl get crd -o yaml`` prints)."""
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        if document.get("kind") == "List":
            yield from _crd_documents(document.get("items") or ())
        elif document.get("kind") == "CustomResourceDefinition":
            yield document


def _schemas_of_crd(crd: Mapping[str, Any], source: str) -> dict[tuple[str, str], Mapping[str, Any]]:
    spec = crd.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        raise ConfigError(f"{source}: a CustomResourceDefinition lacks spec.group or spec.names.kind", "re-export it")
    legacy = (spec.get("validation") or {}).get("openAPIV3Schema")  # apiextensions.k8s.io/v1beta1
    schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
    for version in spec.get("versions") or ():
        if version.get("served") is False:
            continue
        raw = (version.get("schema") or {}).get("openAPIV3Schema") or legacy
        if isinstance(raw, Mapping):
            schemas[(f"{group}/{version['name']}", kind)] = _root_schema(raw)
    return schemas


def _root_schema(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a CRD's root schema: every object may have apiVersion, kind and ObjectMeta ``metadata``."""
    schema = _convert(raw)
    properties = schema.setdefault("properties", {})
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    properties["metadata"] = _OBJECT_META
    return schema


def _convert(node: Mapping[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """One structural-schema node (and its children) as Draft 7 JSON Schema.

    Inside ``allOf``/``anyOf``/``oneOf``/``not`` nothing is closed: a branch may repeat only some of the
    fields declared next to it, and closing it would reject the others.
    """
    out: dict[str, Any] = {key: value for key, value in node.items() if key in _KEPT_KEYWORDS}
    if isinstance(node.get("properties"), Mapping):
        out["properties"] = {name: _convert(child, closed=closed) for name, child in node["properties"].items()}
    if isinstance(node.get("items"), Mapping):
        out["items"] = _convert(node["items"], closed=closed)
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        out["additionalProperties"] = _convert(additional, closed=closed)
    elif isinstance(additional, bool):
        out["additionalProperties"] = additional
    junctors = ("allOf", "oneOf") if node.get("x-kubernetes-int-or-string") else ("allOf", "anyOf", "oneOf")
    for keyword in junctors:
        if keyword in node:
            out[keyword] = [_convert(child, closed=False) for child in node[keyword]]
    if "not" in node:
        out["not"] = _convert(node["not"], closed=False)
    _convert_bounds(node, out)
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]  # replaces the anyOf of these two types that CRD generators add
    if node.get("nullable"):
        _allow_null(out)
    if closed and not node.get("x-kubernetes-preserve-unknown-fields"):
        _close_object(out)
    _convert_list_type(node, out)
    return out


def _convert_bounds(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """OpenAPI 3.0's boolean ``exclusiveMaximum``/``exclusiveMinimum`` become Draft 7's numeric ones."""
    for exclusive, bound in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        value = node.get(exclusive)
        if value is True and bound in out:
            out[exclusive] = out.pop(bound)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[exclusive] = value


def _allow_null(out: dict[str, Any]) -> None:
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]


def _close_object(out: dict[str, Any]) -> None:
    """Unknown fields are errors where the schema names the fields, or names none and allows no map."""
    if "additionalProperties" in out:
        return
    types = out.get("type")
    if "properties" in out or types == "object" or (isinstance(types, list) and "object" in types):
        out["additionalProperties"] = False


def _convert_list_type(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "set":
        out["uniqueItems"] = True
    elif list_type == "map":
        keys = list(node.get("x-kubernetes-list-map-keys") or ())
        item_properties = (node.get("items") or {}).get("properties") or {}
        defaults = {key: item_properties.get(key, {}).get("default") for key in keys}
        out[_LIST_MAP_KEYWORD] = {"keys": keys, "defaults": defaults}


def _unique_map_keys(
    validator: Validator, spec: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """``x-kubernetes-list-type: map``: no two items share their key fields (after defaulting)."""
    if not isinstance(instance, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(instance):
        if not isinstance(item, Mapping):
            continue
        key = {name: item.get(name, spec["defaults"].get(name)) for name in spec["keys"]}
        text = json.dumps(key, sort_keys=True, default=str)
        if text in seen:
            shown = ", ".join(f"{name}={value!r}" for name, value in key.items())
            yield ValidationError(f"duplicate entry ({shown}), same as item [{seen[text]}]", path=(index,))
        else:
            seen[text] = index


_CrdValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]  # untyped in its stubs
    Draft7Validator, {_LIST_MAP_KEYWORD: _unique_map_keys}
)


def _findings_of_error(name: str, error: ValidationError) -> Iterator[Finding]:
    path = list(error.absolute_path)
    instance: Any = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        yield from _unknown_fields(name, path, error)
        return
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [key for key in error.validator_value if key not in instance]
        for key in missing:
            yield Finding(name, format_path(path), f"missing required field {key!r}", source="crd")
        return
    yield Finding(name, format_path(path), _describe(error), source="crd")


def _unknown_fields(name: str, path: list[str | int], error: ValidationError) -> Iterator[Finding]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = sorted(schema.get("properties") or {})
    instance: Any = error.instance
    for key in sorted(set(instance) - set(known), key=str):
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else "" if known else " (this object takes no fields)"
        yield Finding(name, format_path([*path, str(key)]), f"unknown field {str(key)!r}{hint}", source="crd")


def _describe(error: ValidationError) -> str:
    """A short message: jsonschema's own repeat whole sub-objects, which is unreadable for big objects."""
    value: Any = error.validator_value
    instance: Any = error.instance
    got = _short(instance)
    if error.validator == "type":
        expected = " or ".join(value) if isinstance(value, list) else str(value)
        actual = _JSON_TYPES.get(type(instance), type(instance).__name__)
        hint = "; quote it in YAML" if "string" in expected and actual in ("integer", "number", "boolean") else ""
        shown = "" if instance is None else f" {got}"
        return f"expected {expected}, got {actual}{shown}{hint}"
    if error.validator == "enum":
        return f"{got} is not one of {', '.join(_short(v) for v in value)}"
    if error.validator == "pattern":
        return f"{got} does not match the pattern {value}"
    if error.validator in ("maxLength", "minLength"):
        bound = "at most" if error.validator == "maxLength" else "at least"
        return f"{got} has {len(instance)} characters, {bound} {value} allowed"
    if error.validator in ("maxItems", "minItems"):
        bound = "at most" if error.validator == "maxItems" else "at least"
        return f"has {len(instance)} items, {bound} {value} allowed"
    if error.validator == "uniqueItems":
        return "has duplicate items"
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
