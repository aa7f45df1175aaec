"""The HTML form a person uses to try the model: one field per feature."""

from __future__ import annotations

import html

from ..metadata import STRING, Feature, Metadata


def _field(feature: Feature, example: object) -> str:
    name = html.escape(feature.name, quote=True)
    label = f'<label><span>{html.escape(feature.name)}</span>'
    if feature.dtype == STRING and feature.categories:
        options = "".join(
            f'<option{" selected" if c == example else ""}>{html.escape(str(c))}</option>' for c in feature.categories
        )
        return f'{label}<select name="{name}" data-kind="string">{options}</select></label>'
    if feature.dtype == STRING:
        value = html.escape("" if example is None else str(example), quote=True)
        return f'{label}<input name="{name}" data-kind="string" value="{value}"></label>'
    if feature.dtype == "bool":
        return f'{label}<select name="{name}" data-kind="bool"><option>false</option><option>true</option></select></label>'
    step = "1" if feature.dtype == "int64" else "any"
    value = "" if example is None else html.escape(str(example), quote=True)
    kind = "int" if feature.dtype == "int64" else "number"
    return f'{label}<input name="{name}" type="number" step="{step}" data-kind="{kind}" value="{value}" required></label>'


_SCRIPT = """
const form = document.getElementById("form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = document.getElementById("prediction");
  out.dataset.ready = "false";
  const response = await send(form);
  const body = await response.json();
  document.getElementById("error").textContent = response.ok ? "" : body.error;
  out.textContent = response.ok && body.predictions ? String(body.predictions[0]) : "";
  document.getElementById("probabilities").textContent = response.ok && body.probabilities
    ? body.classes.map((c, i) => `${c}: ${body.probabilities[0][i].toFixed(4)}`).join("\\n") : "";
  out.dataset.ready = "true";
});
"""

# How each page sends its form: one row as JSON, or the picked image as a multipart form.
_SEND_ROW = """
function send(form) {
  const row = {};
  for (const el of form.querySelectorAll("[name]")) {
    const kind = el.dataset.kind;
    row[el.name] = el.value === "" ? null
      : kind === "string" ? el.value : kind === "bool" ? el.value === "true" : Number(el.value);
  }
  return fetch("predict?proba=true", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify([row]),
  });
}
"""
_SEND_IMAGE = """
function send(form) {
  return fetch("predict/image?proba=true", {method: "POST", body: new FormData(form)});
}
"""


def _page(metadata: Metadata, about: str, fields: str, send: str) -> str:
    """The page both kinds of model share: a form, the prediction, the probabilities, the error."""
    title = html.escape(metadata.model_type.rsplit(".", 1)[-1])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · modelpack</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }}
label {{ display: block; margin: .4rem 0; }} label span {{ display: inline-block; width: 12rem; }}
#prediction {{ font-size: 1.4rem; font-weight: bold; }} #error {{ color: #b00; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{about} <a href="openapi.json">openapi.json</a>, <a href="metadata">metadata</a>.</p>
<form id="form">
{fields}
<button type="submit" id="predict">Predict</button>
</form>
<p id="prediction" data-ready="false"></p>
<pre id="probabilities"></pre>
<p id="error"></p>
<script>{send}{_SCRIPT}</script>
</body></html>
"""


def form_page(metadata: Metadata) -> str:
    schema = metadata.input_schema
    features = schema.features if schema else ()
    first = metadata.sample.inputs[0] if metadata.sample and metadata.sample.inputs else [None] * len(features)
    fields = "\n".join(_field(f, v) for f, v in zip(features, first))
    about = f"A {html.escape(metadata.task)} served by modelpack. API:"
    return _page(metadata, about, fields, _SEND_ROW)


def image_page(metadata: Metadata) -> str:
    """A file picker for a network that takes images; the server prepares them by the model's recipe."""
    recipe = metadata.extra.get("preprocess") or {}
    size = "×".join(str(v) for v in recipe.get("size", []))
    about = (f"A {html.escape(metadata.task)} of {html.escape(size)} {html.escape(str(recipe.get('mode', '')))} "
             "images, served by modelpack. API: POST an image to <code>predict/image</code>;")
    fields = '<input type="file" name="image" id="image" accept="image/*" required>'
    return _page(metadata, about, fields, _SEND_IMAGE)
