"""HTML form fields generated from an adapter's Config JSON schema, and form data parsed back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hub import bodies
from hub.errors import ConfigError, PayloadInvalid
from hub.types import SECTIONS, AdapterConfig, section_of

#: what each form section holds, shown under its heading
SECTION_TITLES = {
    "credentials": ("Credentials", "Tokens, keys and passwords. Stored encrypted; never shown again."),
    "addresses": ("Addresses", "Where the hub connects, and the numbers, addresses or IDs it works with."),
    "behaviour": ("Behaviour", "What the hub does with this connector's conversations."),
    "advanced": ("Advanced", "Rarely changed: ports, timeouts, custom fields, test servers."),
}


@dataclass
class Field:
    name: str
    label: str
    kind: str  # text | secret | integer | number | boolean | list | json | enum
    required: bool
    default: Any = None
    help: str = ""
    options: list[str] = field(default_factory=list)
    value: Any = None
    is_set: bool = False  # secrets: a value is stored (shown masked, never in clear)
    masked: str = ""
    section: str = "behaviour"
    example: str = ""
    needed_for: str = ""  # not required by the schema, but without it this part does not work
    retype: bool = False  # a secret typed in a form the server sent back: it must be typed again


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return {**schema.get("$defs", {}).get(name, {}), **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def fields_for(config_cls: type[AdapterConfig], channel: bool = True) -> list[Field]:
    """The form's fields; a helpdesk backend's form leaves out the channel-only keys."""
    schema = config_cls.model_json_schema()
    secrets = config_cls.secret_fields()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(schema, prop)
        if prop.get("channels_only") and not channel:
            continue
        variants = [_resolve(schema, v) for v in prop.get("anyOf", [prop])]
        non_null = [v for v in variants if v.get("type") != "null"] or [prop]
        main = non_null[0]
        typ = main.get("type")
        if name in secrets:
            kind = "secret"
        elif "enum" in main:
            kind = "enum"
        elif typ == "boolean":
            kind = "boolean"
        elif typ == "integer":
            kind = "integer"
        elif typ == "number":
            kind = "number"
        elif typ == "array":
            kind = "list"
        elif typ == "object":
            kind = "json"
        else:
            kind = "text"
        out.append(Field(
            name=name,
            label=prop.get("title") or name.replace("_", " ").capitalize(),
            kind=kind,
            required=name in required,
            default=prop.get("default"),
            help=prop.get("description") or main.get("description") or "",
            options=[str(x) for x in main.get("enum", [])],
            section=section_of(name, prop, name in secrets),
            example=_example(prop.get("examples")),
            needed_for=str(prop.get("needed_for") or ""),
        ))
    # by section; in each, required first, then declaration order
    return sorted(out, key=lambda f: (SECTIONS.index(f.section) if f.section in SECTIONS else len(SECTIONS), not f.required))


def _example(examples: Any) -> str:
    if not examples:
        return ""
    x = examples[0]
    return ", ".join(str(v) for v in x) if isinstance(x, list | tuple) else str(x)


def sections(fields: list[Field]) -> list[tuple[str, str, str, list[Field]]]:
    """The fields grouped for the form: (section, title, what it holds, fields), in SECTIONS order."""
    out = []
    for name in SECTIONS:
        group = [f for f in fields if f.section == name]
        if group:
            title, blurb = SECTION_TITLES[name]
            out.append((name, title, blurb, group))
    return out


def fill(fields: list[Field], values: dict[str, Any], masked: dict[str, Any]) -> list[Field]:
    """Attach current values: plain keys as values, secrets only as 'is set' + mask."""
    for f in fields:
        if f.kind == "secret":
            f.is_set = bool(masked.get(f.name))
            f.masked = str(masked.get(f.name) or "")
            f.value = None
        else:
            # only stored keys are filled in; a default shows as the placeholder (and stays a default)
            v = values.get(f.name, f.default if f.kind == "boolean" else None)
            if f.kind == "list":
                v = "\n".join(str(x) for x in (v or []))
            elif f.kind == "json":
                v = json.dumps(v, indent=2) if v is not None else ""
            f.value = v
    return fields


def parse(fields: list[Field], form, *, editing: bool) -> dict[str, Any]:
    """Form data -> config values. Empty secrets mean 'keep' when editing; empty optionals are removed."""
    values: dict[str, Any] = {}
    for f in fields:
        key = f"cfg_{f.name}"
        if f.kind == "boolean":
            values[f.name] = form.get(key) == "on"
            continue
        raw = (form.get(key) or "").strip() if f.kind != "json" else (form.get(key) or "")
        if f.kind == "secret":
            if raw:
                values[f.name] = raw
            elif form.get(f"clear_{f.name}") == "on":
                values[f.name] = None
            continue
        if raw == "" or (f.kind == "json" and not raw.strip()):
            values[f.name] = None  # unset: the schema default applies
            continue
        try:
            if f.kind == "integer":
                values[f.name] = int(raw)
            elif f.kind == "number":
                values[f.name] = float(raw)
            elif f.kind == "list":
                values[f.name] = [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
            elif f.kind == "json":
                values[f.name] = bodies.loads(raw, what=f.name)
            else:
                values[f.name] = raw
        except (ValueError, PayloadInvalid) as exc:
            raise ConfigError(f"{f.name}: {exc}") from None
    if not editing:
        values = {k: v for k, v in values.items() if v is not None}
    return values
