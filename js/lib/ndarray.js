// Arrays arrive from Python as {buffer, dtype, shape}: `buffer` is a DataView (widget comm),
// an ArrayBuffer or a Uint8Array (static page). Rebuild them as typed arrays without copying
// when the alignment allows it.

const TYPED = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array };

function bytesOf(buffer) {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  throw new TypeError(`array payload buffer must be binary, got ${typeof buffer}`);
}

export function fromPayload(payload) {
  const Typed = TYPED[payload.dtype];
  if (!Typed) throw new TypeError(`unsupported dtype ${payload.dtype}`);
  const shape = Array.from(payload.shape);
  const size = shape.reduce((a, b) => a * b, 1);
  let bytes = bytesOf(payload.buffer);
  if (bytes.byteLength !== size * Typed.BYTES_PER_ELEMENT) {
    throw new RangeError(
      `array payload has ${bytes.byteLength} bytes, shape ${shape} of ${payload.dtype} needs ${size * Typed.BYTES_PER_ELEMENT}`,
    );
  }
  if (bytes.byteOffset % Typed.BYTES_PER_ELEMENT !== 0) bytes = bytes.slice();
  return { data: new Typed(bytes.buffer, bytes.byteOffset, size), shape, dtype: payload.dtype };
}

/** The sub-array at `index` along the first axis (a view, no copy). */
export function take(array, index) {
  const [n, ...rest] = array.shape;
  if (!(index >= 0 && index < n)) throw new RangeError(`index ${index} out of range [0, ${n})`);
  const stride = rest.reduce((a, b) => a * b, 1);
  return {
    data: array.data.subarray(index * stride, (index + 1) * stride),
    shape: rest,
    dtype: array.dtype,
  };
}
