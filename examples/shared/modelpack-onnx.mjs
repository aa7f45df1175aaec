// Reading a modelpack ONNX export from JavaScript (Node.js and the browser alike).
//
// onnxruntime's JS API does not expose an ONNX file's metadata_props, so this reads them
// from the protobuf directly: ModelProto field 14 is repeated StringStringEntryProto
// {1: key, 2: value}; modelpack stores its metadata as JSON under the key "modelpack".

const METADATA_PROPS = 14;

function readVarint(bytes, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
  }
}

// Yields [fieldNumber, wireType, payload] for each top-level field of a protobuf message.
function* fields(bytes) {
  let pos = 0;
  while (pos < bytes.length) {
    let tag;
    [tag, pos] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      let value;
      [value, pos] = readVarint(bytes, pos);
      yield [field, wire, value];
    } else if (wire === 2) {
      let length;
      [length, pos] = readVarint(bytes, pos);
      yield [field, wire, bytes.subarray(pos, pos + length)];
      pos += length;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
}

/** The modelpack metadata of an ONNX file's bytes, or null when it has none. */
export function readModelpackMetadata(bytes) {
  const decoder = new TextDecoder();
  for (const [field, wire, payload] of fields(bytes)) {
    if (field !== METADATA_PROPS || wire !== 2) continue;
    let key = null;
    let value = null;
    for (const [f, w, p] of fields(payload)) {
      if (w !== 2) continue;
      if (f === 1) key = decoder.decode(p);
      if (f === 2) value = decoder.decode(p);
    }
    if (key === "modelpack") return JSON.parse(value);
  }
  return null;
}

/** onnxruntime feeds for rows (arrays in input_schema order), as modelpack lays out its inputs. */
export function buildFeeds(ort, meta, rows) {
  const features = meta.input_schema.features;
  const double = meta.extra.precision === "double";
  const n = rows.length;
  const real = (values) => (double ? new Float64Array(values) : new Float32Array(values));
  const missing = (v) => (v === null ? NaN : v);
  if (meta.extra.onnx_inputs === "tensor") {
    const flat = rows.flat().map(missing);
    return { input: new ort.Tensor(double ? "float64" : "float32", real(flat), [n, features.length]) };
  }
  const feeds = {};
  features.forEach((feature, j) => {
    const column = rows.map((row) => row[j]);
    if (feature.dtype === "string") {
      feeds[feature.name] = new ort.Tensor("string", column.map((v) => (v === null ? "" : String(v))), [n, 1]);
    } else if (feature.dtype === "int64" && !double) {
      feeds[feature.name] = new ort.Tensor("int64", BigInt64Array.from(column.map((v) => BigInt(v))), [n, 1]);
    } else {
      feeds[feature.name] = new ort.Tensor(double ? "float64" : "float32", real(column.map(missing)), [n, 1]);
    }
  });
  return feeds;
}

/** Labels as plain JS values (int64 tensors hold BigInts). */
export function labelsOf(tensor) {
  return Array.from(tensor.data, (v) => (typeof v === "bigint" ? Number(v) : v));
}

/** Compare onnxruntime's results with the outputs recorded in the metadata; returns a list of problems. */
export function compareWithRecorded(meta, results, tolerance = 1e-5) {
  const problems = [];
  const roles = meta.extra.onnx_outputs;
  const expected = meta.sample.outputs;
  if (roles.predict && expected.predict) {
    const got = labelsOf(results[roles.predict]);
    expected.predict.forEach((want, i) => {
      const value = Array.isArray(want) ? want[0] : want;
      const ok = typeof value === "number" && typeof got[i] === "number"
        ? Math.abs(got[i] - value) <= tolerance * Math.max(1, Math.abs(value))
        : String(got[i]) === String(value);
      if (!ok) problems.push(`row ${i}: predict ${got[i]} != ${value}`);
    });
  }
  if (roles.predict_proba && expected.predict_proba) {
    const tensor = results[roles.predict_proba];
    const width = tensor.dims[1];
    expected.predict_proba.forEach((row, i) => {
      row.forEach((want, j) => {
        const got = Number(tensor.data[i * width + j]);
        if (Math.abs(got - want) > tolerance) problems.push(`row ${i}: probability[${j}] ${got} != ${want}`);
      });
    });
  }
  if (Object.keys(roles).every((role) => !expected[role])) problems.push("nothing to compare");
  return problems;
}
