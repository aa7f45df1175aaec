// Loads a modelpack ONNX export (URL in ?model=, default ./model.onnx), builds a form from the
// input schema in the file's own metadata, and predicts in the page with onnxruntime-web.
import * as ort from "./node_modules/onnxruntime-web/dist/ort.min.mjs";
import { buildFeeds, labelsOf, readModelpackMetadata } from "../shared/modelpack-onnx.mjs";

ort.env.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.wasm.numThreads = 1; // no cross-origin isolation needed

const $ = (id) => document.getElementById(id);

function field(feature, example, choices) {
  const label = document.createElement("label");
  label.innerHTML = `<span></span>`;
  label.firstChild.textContent = feature.name;
  let input;
  if (feature.dtype === "string") {
    input = document.createElement("select");
    for (const choice of choices) {
      const option = document.createElement("option");
      option.value = option.textContent = choice;
      input.append(option);
    }
  } else {
    input = document.createElement("input");
    input.type = "number";
    input.step = "any";
    input.required = true;
  }
  input.name = feature.name;
  input.value = example ?? "";
  label.append(input);
  return label;
}

async function main() {
  const url = new URLSearchParams(location.search).get("model") ?? "./model.onnx";
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const meta = readModelpackMetadata(bytes);
  if (!meta) throw new Error(`${url} has no modelpack metadata`);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const features = meta.input_schema.features;
  const first = meta.sample?.inputs?.[0] ?? [];
  const form = $("form");
  features.forEach((feature, j) => {
    const seen = (meta.sample?.inputs ?? []).map((row) => row[j]);
    const choices = feature.categories ?? [...new Set(seen)].filter((v) => v !== null).sort();
    form.append(field(feature, first[j], choices));
  });
  const button = document.createElement("button");
  button.type = "submit";
  button.id = "predict";
  button.textContent = "Predict";
  form.append(button);
  $("about").textContent = `${meta.model_type} · ${meta.task} · ${features.length} features`;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("prediction").dataset.ready = "false";
    try {
      const row = features.map((f) => {
        const value = form.elements[f.name].value;
        return f.dtype === "string" ? value : Number(value);
      });
      const results = await session.run(buildFeeds(ort, meta, [row]));
      const roles = meta.extra.onnx_outputs;
      const label = labelsOf(results[roles.predict])[0];
      $("prediction").textContent = String(label);
      if (roles.predict_proba) {
        const p = results[roles.predict_proba].data;
        $("probabilities").textContent = meta.classes.map((c, i) => `${c}: ${Number(p[i]).toFixed(4)}`).join("\n");
      }
      $("error").textContent = "";
    } catch (error) {
      $("error").textContent = String(error);
    }
    $("prediction").dataset.ready = "true";
  });
  form.dataset.ready = "true";
}

main().catch((error) => {
  $("error").textContent = String(error);
  $("form").dataset.ready = "error";
});
