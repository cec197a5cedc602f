"""MkDocs hook: connector key tables generated from the connectors' pydantic schemas.

A page that contains ``<!-- connector-keys: KIND -->`` gets, in its place, a table of the
keys of that connector kind (channel or helpdesk backend): name, label, whether it is
required or secret, default, help text and example. The table is built from
``Config.model_json_schema()`` at build time, so the documentation cannot drift from the
code; the keys are grouped in the admin form's sections and followed by a screenshot of that
form (docs/screenshots/connector-KIND.jpg, refreshed by ``OMNIHUB_UPDATE_SCREENSHOTS=1`` on
tests/web/test_admin_console.py). ``mkdocs build --strict`` fails when a marker names an unknown kind, and when a
registered kind has no marker on any page (a new connector without a page).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

from hub.types import SECTIONS, section_of

log = logging.getLogger("mkdocs.hooks.connector_keys")

MARKER = re.compile(r"<!--\s*connector-keys:\s*([a-z0-9_]+)\s*-->")
_seen: set[str] = set()


def _registry() -> dict[str, Any]:
    from channels import REGISTRY as channels
    from outbound import REGISTRY as backends

    return {**{k: v for k, v in backends.items()}, **{k: v for k, v in channels.items()}}


def _type_of(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        kinds = [_type_of(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds) or "any"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    t = prop.get("type", "object")
    if t == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if prop.get("format") == "password":
        return "secret"
    return {"string": "text", "integer": "integer", "number": "number", "boolean": "true/false"}.get(t, t)


def _cell(text: Any) -> str:
    s = text if isinstance(text, str) else json.dumps(text)
    return s.replace("|", "\\|").replace("\n", " ")


def _humanized(name: str) -> str:
    return name.replace("_", " ").title()


def keys_table(kind: str) -> str:
    registry = _registry()
    if kind not in registry:
        raise PluginError(f"connector-keys marker names unknown connector kind {kind!r}; known: {', '.join(sorted(registry))}")
    from outbound import REGISTRY as backends

    schema = registry[kind].Config.model_json_schema()
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    defs = schema.get("$defs", {})
    sections: dict[str, list[str]] = {}
    for name, prop in props.items():
        if "$ref" in prop:
            prop = {**defs.get(prop["$ref"].rsplit("/", 1)[-1], {}), **{k: v for k, v in prop.items() if k != "$ref"}}
        if prop.get("channels_only") and kind in backends:
            continue  # a channel key of the shared base: not on a helpdesk's page (nor its form)
        title = prop.get("title") or _humanized(name)
        secret = prop.get("writeOnly") or prop.get("format") == "password" or any(
            p.get("format") == "password" for p in prop.get("anyOf", []))
        need = "**required**" if name in required else "optional"
        if secret:
            need += ", secret"
        default = "" if name in required or "default" not in prop or prop["default"] is None else f"`{_cell(prop['default'])}`"
        help_text = _cell(prop.get("description", ""))
        examples = prop.get("examples") or []
        example = f"`{_cell(examples[0])}`" if examples else ""
        section = section_of(name, prop, bool(secret))
        sections.setdefault(section, []).append(
            f"| `{name}` | {_cell(title)} | {_type_of(prop)} | {need} | {default} | {help_text} | {example} |")
    head = "| key | label | type | | default | meaning | example |\n| --- | --- | --- | --- | --- | --- | --- |"
    order = list(SECTIONS)
    out = [f"Keys of `kind: {kind}` (generated from the connector's schema):", ""]
    for section in sorted(sections, key=lambda s: (order.index(s) if s in order else len(order), s)):
        if len(sections) > 1:
            out += [f"**{section.capitalize()}**", ""]
        out += [head, *sections[section], ""]
    return "\n".join(out)


def on_pre_build(config: Any) -> None:
    _seen.clear()


SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    depth = page.file.src_uri.count("/")

    def sub(m: re.Match[str]) -> str:
        kind = m.group(1)
        _seen.add(kind)
        table = keys_table(kind)
        shot = SCREENSHOTS / f"connector-{kind}.jpg"  # taken by tests/web/test_admin_console.py
        if shot.exists():
            table += (f"\n![The {kind} connector form in the admin console, on a phone]({'../' * depth}screenshots/{shot.name})"
                      '{ width="320" }\n')
        return table

    return MARKER.sub(sub, markdown)


def on_post_build(config: Any) -> None:
    missing = sorted(set(_registry()) - _seen)
    if missing:
        raise PluginError(
            f"connector kinds without a documentation page: {', '.join(missing)} — add "
            "`<!-- connector-keys: KIND -->` to the kind's page under docs/")
