// Loads a modelpack ONNX export of an image classifier (URL in ?model=), reads the pixel recipe
// recorded in the file's metadata (extra.preprocess: size, mode, layout, scale, mean, std), and
// classifies the picked image in the page with onnxruntime-web: the same preparation as
// `modelpack predict --data images/` and `serve`'s uploads.
import * as ort from "./node_modules/onnxruntime-web/dist/ort.min.mjs";
import { labelsOf, readModelpackMetadata } from "../shared/modelpack-onnx.mjs";

ort.env.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.wasm.numThreads = 1;

const $ = (id) => document.getElementById(id);

/** The picked file's pixels as the network's input tensor, by the recorded recipe. */
async function prepare(file, recipe) {
  const bitmap = await createImageBitmap(file);
  const [width, height] = recipe.size;
  if ((bitmap.width !== width || bitmap.height !== height) && !recipe.resize) {
    throw new Error(`${file.name} is ${bitmap.width}×${bitmap.height}; the model takes ${width}×${height} images`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const channels = recipe.mode === "RGB" ? 3 : 1;
  const at = (values, c) => values[values.length === 1 ? 0 : c];
  const out = new Float32Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      // Pillow's "L": ITU-R 601-2 luma in its fixed-point form, so both sides round alike
      const values = channels === 3 ? [rgba[p], rgba[p + 1], rgba[p + 2]]
        : [Math.floor((rgba[p] * 19595 + rgba[p + 1] * 38470 + rgba[p + 2] * 7471 + 0x8000) / 65536)];
      values.forEach((v, c) => {
        const i = recipe.layout === "NCHW" ? c * width * height + y * width + x : (y * width + x) * channels + c;
        out[i] = (v * recipe.scale - at(recipe.mean, c)) / at(recipe.std, c);
      });
    }
  }
  const shape = recipe.layout === "NCHW" ? [1, channels, height, width] : [1, height, width, channels];
  return new ort.Tensor("float32", out, shape);
}

async function main() {
  const url = new URLSearchParams(location.search).get("model") ?? "./cnn.onnx";
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const meta = readModelpackMetadata(bytes);
  const recipe = meta?.extra?.preprocess;
  if (!recipe) throw new Error(`${url} records no image recipe (save the model with preprocess=...)`);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  $("about").textContent = `${meta.model_type} · ${meta.task} · ${recipe.size.join("×")} ${recipe.mode} images`;
  $("image").addEventListener("change", async () => {
    $("prediction").dataset.ready = "false";
    try {
      const feeds = { [session.inputNames[0]]: await prepare($("image").files[0], recipe) };
      const results = await session.run(feeds);
      const roles = meta.extra.onnx_outputs;
      $("prediction").textContent = String(labelsOf(results[roles.predict])[0]);
      if (roles.predict_proba) {
        const p = results[roles.predict_proba].data;
        $("probabilities").textContent = meta.classes.map((c, i) => `${c}: ${Number(p[i]).toFixed(4)}`).join("\n");
      }
      $("error").textContent = "";
    } catch (error) {
      $("prediction").textContent = "";
      $("error").textContent = String(error.message ?? error);
    }
    $("prediction").dataset.ready = "true";
  });
  $("form").dataset.ready = "true";
}

main().catch((error) => {
  $("error").textContent = String(error);
  $("form").dataset.ready = "error";
});
