// Load a modelpack ONNX export in Node.js, run the sample rows recorded in the file, and exit
// non-zero unless the labels and probabilities match the outputs recorded with them.
//
//   ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci && node run.js model.onnx
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { buildFeeds, compareWithRecorded, labelsOf, readModelpackMetadata } from "../shared/modelpack-onnx.mjs";

const path = process.argv[2];
if (!path) {
  console.error("usage: node run.js MODEL.onnx");
  process.exit(2);
}
const bytes = new Uint8Array(await readFile(path));
const meta = readModelpackMetadata(bytes);
if (!meta || !meta.sample) {
  console.error(`${path} has no modelpack metadata with sample rows; save it with modelpack.save(..., sample=X)`);
  process.exit(2);
}
const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
const results = await session.run(buildFeeds(ort, meta, meta.sample.inputs));
const problems = compareWithRecorded(meta, results);
const predict = meta.extra.onnx_outputs.predict;
console.log(JSON.stringify({
  model_type: meta.model_type,
  inputs: session.inputNames,
  rows: meta.sample.inputs.length,
  predictions: predict ? labelsOf(results[predict]) : null,
  problems,
}));
process.exit(problems.length ? 1 : 0);
