#!/usr/bin/env python3
"""Validates a JSON document against a JSON Schema, for the subset of draft
2020-12 that bench/schema.json uses (type, const, enum, required, properties,
additionalProperties: false, items, $ref to #/$defs, oneOf, minimum,
exclusiveMinimum). A schema keyword outside that subset is an error, so no
constraint is silently ignored. Usage: bench_schema_check.py SCHEMA DOC;
prints every violation and exits 1 when there is one.
(python3-jsonschema would do the same; this keeps CI's package list short.)"""
import json
import sys

ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
KEYWORDS = {"type", "const", "enum", "required", "properties", "additionalProperties", "items",
            "$ref", "oneOf", "minimum", "exclusiveMinimum"} | ANNOTATIONS

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def validate(root, schema, v, path, errs):
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise SystemExit("schema keyword(s) %s at %s are not supported by this checker"
                         % (sorted(unknown), path))
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise SystemExit("unsupported $ref %s" % ref)
        validate(root, root["$defs"][ref[len("#/$defs/"):]], v, path, errs)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](v) for t in types):
            errs.append("%s: %r is not of type %s" % (path, v, "/".join(types)))
            return
    if "const" in schema and v != schema["const"]:
        errs.append("%s: %r is not %r" % (path, v, schema["const"]))
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r is not one of %r" % (path, v, schema["enum"]))
    if TYPES["number"](v):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: %r < minimum %r" % (path, v, schema["minimum"]))
        if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
            errs.append("%s: %r <= exclusive minimum %r" % (path, v, schema["exclusiveMinimum"]))
    if isinstance(v, dict):
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: missing property %s" % (path, k))
        props = schema.get("properties", {})
        for k, x in v.items():
            if k in props:
                validate(root, props[k], x, path + "." + k, errs)
            elif schema.get("additionalProperties", True) is False:
                errs.append("%s: unexpected property %s" % (path, k))
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            validate(root, schema["items"], x, "%s[%d]" % (path, i), errs)
    if "oneOf" in schema:
        ok = 0
        for s in schema["oneOf"]:
            e = []
            validate(root, s, v, path, e)
            ok += not e
        if ok != 1:
            errs.append("%s: matches %d of the oneOf alternatives (must be 1)" % (path, ok))


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: bench_schema_check.py SCHEMA DOC")
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    with open(sys.argv[2]) as f:
        doc = json.load(f)
    errs = []
    validate(schema, schema, doc, "$", errs)
    for e in errs:
        print("schema violation: " + e)
    print("%s: %s" % (sys.argv[2], "valid" if not errs else "%d violation(s)" % len(errs)))
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
