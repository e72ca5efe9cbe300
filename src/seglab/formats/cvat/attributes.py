"""Attribute specs as CVAT declares them (1.1 fields or 1.0's ``@select=name:a,b``) and attribute
values typed by their spec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from seglab.core.annotation import AttributeValue
from seglab.core.ontology import AttributeSpec, AttributeType
from seglab.formats.cvat.constants import DEFAULT_INPUT_TYPE, INPUT_TYPES
from seglab.formats.cvat.text import fmt, number_text
from seglab.formats.safe_io import finite_number

_OLD_ATTRIBUTE_RE = re.compile(r"([~@])(\w+)=([^:]*):(.*)", re.S)


def value_text(value: object) -> str:
    """An attribute value as CVAT writes it (``true``/``false``, exact numbers)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def typed_value(name: str, spec: AttributeSpec | None, text: str) -> AttributeValue:
    """An attribute's text as its spec's type; undeclared attributes stay text (CVAT's soft import)."""
    if spec is None or spec.type in (AttributeType.TEXT, AttributeType.CHOICE):
        return text
    if spec.type is AttributeType.BOOL:
        low = text.strip().lower()
        if low not in ("true", "false"):
            raise ValueError(f"attribute {name!r} is {text!r}, not true or false")
        return low == "true"
    return number_text(text, f"attribute {name!r}")


def _split_values(text: str, number: bool) -> list[str]:
    if not text:
        return []
    if number and "\n" not in text:
        for sep in (";", ","):
            if sep in text:
                return [v.strip() for v in text.split(sep)]
    return [v.strip() if number else v for v in text.split("\n")]


def raw_attribute(el: Any) -> dict[str, str]:
    """A label's ``<attribute>`` as CVAT's fields (1.1), or parsed from 1.0's ``@select=name:a,b`` text."""
    if el.find("name") is None and (el.text or "").strip():
        match = _OLD_ATTRIBUTE_RE.fullmatch(el.text.strip())
        if not match:
            raise ValueError(f"attribute {el.text.strip()!r} is neither CVAT 1.1 nor 1.0 syntax")
        values = match.group(4).split(",") if match.group(4) else []
        return {
            "name": match.group(3),
            "mutable": "True" if match.group(1) == "~" else "False",
            "input_type": match.group(2),
            "default_value": values[0] if values else "",
            "values": "\n".join(values),
        }
    return {
        key: el.findtext(key) or "" for key in ("name", "mutable", "input_type", "default_value", "values")
    }


def spec_from_raw(raw: Mapping[str, str]) -> tuple[AttributeSpec, dict[str, Any]]:
    """A typed spec and what the spec has no field for (mutable, radio vs select, number step)."""
    name = raw["name"]
    if not name:
        raise ValueError("an attribute has no name")
    input_type = (raw.get("input_type") or "text").strip().lower()
    atype = INPUT_TYPES.get(input_type, AttributeType.TEXT)
    extra: dict[str, Any] = {}
    if (raw.get("mutable") or "").strip().lower() == "true":
        extra["mutable"] = True
    if input_type != DEFAULT_INPUT_TYPE[atype]:
        extra["input_type"] = input_type
    default_text = raw.get("default_value") or ""
    values = _split_values(raw.get("values") or "", atype is AttributeType.NUMBER)
    if atype is AttributeType.NUMBER:
        bounds = [
            float(finite_number(v, what=f"attribute {name!r} bound")) if v else None for v in values[:2]
        ]
        bounds += [None] * (2 - len(bounds))
        if len(values) > 2 and values[2] not in ("", "1"):
            extra["step"] = values[2]
        default = float(number_text(default_text, f"attribute {name!r} default")) if default_text else None
        return AttributeSpec(name, atype, default=default, minimum=bounds[0], maximum=bounds[1]), extra
    if atype is AttributeType.BOOL:
        default_bool = default_text.strip().lower() == "true" if default_text.strip() else None
        return AttributeSpec(name, atype, default=default_bool), extra
    if atype is AttributeType.CHOICE:
        return AttributeSpec(name, atype, choices=tuple(values), default=default_text or None), extra
    return AttributeSpec(name, atype, default=default_text or None), extra


def raw_from_spec(spec: AttributeSpec, extra: Mapping[str, Any]) -> dict[str, str]:
    """CVAT's attribute fields for a spec (inverse of :func:`spec_from_raw`)."""
    input_type = extra.get("input_type")
    if INPUT_TYPES.get(str(input_type), AttributeType.TEXT) is not spec.type or input_type is None:
        input_type = DEFAULT_INPUT_TYPE[spec.type]
    default = "" if spec.default is None else value_text(spec.default)
    if spec.type is AttributeType.NUMBER:
        bounds = ["" if b is None else fmt(b) for b in (spec.minimum, spec.maximum)]
        if isinstance(spec.default, int | float) and not isinstance(spec.default, bool):
            default = fmt(spec.default)
        values = "\n".join([*bounds, str(extra.get("step", "1"))])
    elif spec.type is AttributeType.BOOL:
        values = default or "false"
    elif spec.type is AttributeType.CHOICE:
        values = "\n".join(spec.choices)
    else:
        values = default
    return {
        "name": spec.name,
        "mutable": "True" if extra.get("mutable") else "False",
        "input_type": str(input_type),
        "default_value": default,
        "values": values,
    }


def fits_type(atype: AttributeType, value: object) -> bool:
    """Whether a value reads back as the same type (range checks are validation's job, not the writer's)."""
    if atype is AttributeType.BOOL:
        return isinstance(value, bool | np.bool_)
    if atype is AttributeType.NUMBER:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool | np.bool_
        )
    return isinstance(value, str)


def attribute_values(el: Any, specs: Mapping[str, AttributeSpec]) -> dict[str, AttributeValue]:
    """The ``<attribute name="...">`` children of a shape or tag, typed by ``specs``."""
    values: dict[str, AttributeValue] = {}
    for attr_el in el.findall("attribute"):
        name = attr_el.get("name")
        if not name:
            raise ValueError("an <attribute> has no name")
        values[name] = typed_value(name, specs.get(name), attr_el.text or "")
    return values
