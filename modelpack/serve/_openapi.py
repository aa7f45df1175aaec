"""An OpenAPI description generated from the model's input schema."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..metadata import STRING, Feature, Metadata, to_jsonable


def _property(feature: Feature) -> dict[str, Any]:
    if feature.dtype == STRING:
        prop: dict[str, Any] = {"type": "string", "nullable": True}
        if feature.categories:
            prop["description"] = "known values: " + ", ".join(map(str, feature.categories))
            prop["example"] = feature.categories[0]
        return prop
    if feature.dtype == "int64":
        return {"type": "integer"}
    if feature.dtype == "bool":
        return {"type": "boolean"}
    return {"type": "number", "nullable": True, "description": "null means missing"}


def openapi(metadata: Metadata, max_rows: int) -> dict[str, Any]:
    schema = metadata.input_schema
    features = schema.features if schema else ()
    record = {
        "type": "object",
        "properties": {f.name: _property(f) for f in features},
        "required": [f.name for f in features],
        "additionalProperties": False,
    }
    columns = {
        "type": "object",
        "properties": {f.name: {"type": "array", "items": _property(f)} for f in features},
        "required": [f.name for f in features],
        "additionalProperties": False,
    }
    prediction = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array", "items": {}},
            "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "classes": {"type": "array", "items": {}},
        },
    }
    error = {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string"}}}
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in [(400, "not JSON"), (413, "body or row count over the limit"), (415, "not application/json"),
                           (422, "a field is missing, extra, or of the wrong type")]
    }
    proba = {"name": "proba", "in": "query", "required": False, "schema": {"type": "boolean"},
             "description": "also return class probabilities"}
    ok = {"200": {"description": "predictions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}}}}
    if metadata.extra.get("preprocess"):  # a network that takes images: uploads instead of rows
        return _image_api(metadata, ok, errors, proba, prediction, error)
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{metadata.model_type.rsplit('.', 1)[-1]} served by modelpack", "version": __version__,
                 "description": f"A {metadata.task}; classes: {to_jsonable(metadata.classes)}"},
        "paths": {
            "/predict": {
                "post": {
                    "summary": f"Predict for up to {max_rows} rows",
                    "parameters": [proba],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Record"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Record"}, "maxItems": max_rows},
                        {"$ref": "#/components/schemas/Columns"},
                    ]}}}},
                    "responses": ok | errors,
                },
                "get": {
                    "summary": "Predict for one row given as query parameters",
                    "parameters": [{"name": f.name, "in": "query", "required": True, "schema": _property(f)} for f in features] + [proba],
                    "responses": ok | errors,
                },
            },
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "the model is loaded"}}}},
            "/metadata": {"get": {"summary": "The model's metadata (schema, classes, versions)", "responses": {"200": {"description": "metadata"}}}},
        },
        "components": {"schemas": {"Record": record, "Columns": columns, "Prediction": prediction, "Error": error}},
    }


def _image_api(metadata: Metadata, ok: dict[str, Any], errors: dict[str, Any], proba: dict[str, Any],
               prediction: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    recipe = metadata.extra["preprocess"]
    binary = {"type": "string", "format": "binary"}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{metadata.model_type.rsplit('.', 1)[-1]} served by modelpack", "version": __version__,
                 "description": f"A {metadata.task} of {recipe['size'][0]}x{recipe['size'][1]} {recipe['mode']} images; "
                                f"classes: {to_jsonable(metadata.classes)}"},
        "paths": {
            "/predict/image": {"post": {
                "summary": "Predict for one image, prepared by the model's recorded recipe",
                "parameters": [proba],
                "requestBody": {"required": True, "content": {
                    "image/*": {"schema": binary},
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"image": binary},
                                                       "required": ["image"]}},
                }},
                "responses": ok | errors,
            }},
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "the model is loaded"}}}},
            "/metadata": {"get": {"summary": "The model's metadata", "responses": {"200": {"description": "metadata"}}}},
        },
        "components": {"schemas": {"Prediction": prediction, "Error": error}},
    }
