/** Decoding, encoding, reading and writing ONNX models. */
import { readFile, writeFile } from 'node:fs/promises';
import { messageOf } from '../base/message.js';
import { OnnxError } from '../errors.js';
import { ELEM_BYTES, type Model, onnx, toNumber } from './proto.js';

/**
 * Decodes ONNX bytes. Throws `ONNX_DECODE_FAILED` (naming `file` when given) when the bytes are
 * not a protobuf model, when the model has no graph nodes, or when an initializer's raw data does
 * not match its dims — the ways a truncated or foreign file shows up.
 */
export function decodeModel(bytes: Uint8Array, file?: string): Model {
  const what = file ?? 'the bytes';
  const hint = 'The file is truncated or is not an ONNX model; copy or export it again.';
  let model: Model;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    const reason = messageOf(cause);
    throw new OnnxError(
      'ONNX_DECODE_FAILED',
      `Cannot decode ${what} as an ONNX model (${bytes.length} bytes): ${reason}`,
      { file, hint, cause },
    );
  }
  const g = model.graph;
  if (!g?.node || g.node.length === 0) {
    throw new OnnxError(
      'ONNX_DECODE_FAILED',
      `${file ?? 'The bytes'} decoded to an ONNX model without graph nodes (${bytes.length} bytes)`,
      { file, hint },
    );
  }
  for (const t of g.initializer ?? []) {
    const size = ELEM_BYTES[t.dataType ?? 0];
    const raw = t.rawData;
    if (size === undefined || !raw || raw.length === 0) continue;
    const count = (t.dims ?? []).reduce<number>((a, d) => a * toNumber(d), 1);
    if (raw.length !== count * size) {
      throw new OnnxError(
        'ONNX_DECODE_FAILED',
        `Initializer ${t.name ?? ''} in ${what} has ${raw.length} bytes of data but its dims need ${count * size}`,
        {
          file,
          field: `graph.initializer.${t.name ?? ''}`,
          hint,
        },
      );
    }
  }
  return model;
}

/** Encodes a model to ONNX protobuf bytes. */
export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Reads and decodes an ONNX file. Throws `ONNX_IO_FAILED` when it can't be read, else as {@link decodeModel}. */
export async function readModel(path: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new OnnxError('ONNX_IO_FAILED', `Cannot read ONNX file ${path}: ${messageOf(cause)}`, {
      file: path,
      cause,
      hint: 'Check that the path exists and is readable.',
    });
  }
  return decodeModel(bytes, path);
}

/** Encodes a model and writes it to `path`. Throws `ONNX_IO_FAILED` when the file can't be written. */
export async function writeModel(path: string, model: Model): Promise<void> {
  const bytes = encodeModel(model);
  try {
    await writeFile(path, bytes);
  } catch (cause) {
    throw new OnnxError('ONNX_IO_FAILED', `Cannot write ONNX file ${path}: ${messageOf(cause)}`, {
      file: path,
      cause,
      hint: 'Check that the folder exists and is writable, and that the disk has space.',
    });
  }
}
