/**
 * Envoy resources as plain objects in proto3 JSON shape ↔ protobuf wire bytes, through the real Envoy
 * protos (see `protos.ts`).
 *
 * The JSON shape is the one Envoy's `/config_dump` prints and its YAML bootstrap accepts: field names as in
 * the .proto (snake_case; lowerCamelCase is accepted on input), enums by name, 64-bit integers as
 * strings, `google.protobuf.Duration` as `"1.5s"`, wrapper types (`UInt32Value`, `BoolValue`…) as bare
 * values, `google.protobuf.Struct` as a JSON object, and `google.protobuf.Any` as an object whose `"@type"`
 * is the type URL, with the message's own fields beside it (proto3 JSON mapping).
 *
 * Encoding is strict: an unknown field, a wrong scalar, an unknown enum name or an unresolvable `@type`
 * throws {@link ResourceEncodingError} naming the field path. Decoding omits default values, as proto3 JSON
 * printers do, so `decode(encode(x))` deep-equals `x` whenever `x` carries no default-valued scalars.
 */
import protobuf from 'protobufjs';
import { ResourceEncodingError, UnknownTypeUrlError } from './errors.js';
import { lookupMessageType } from './protos.js';

/** A resource or nested message in proto3 JSON shape. */
export type JsonObject = { [key: string]: JsonValue };
/** Any proto3 JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** A `google.protobuf.Any` as it travels in a DiscoveryResponse. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

const typeUrlPrefix = 'type.googleapis.com/';

const wrapperTypes = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map(
    (w) => `.google.protobuf.${w}Value`,
  ),
);

/** Returns the type URL (`type.googleapis.com/<full name>`) of a protobufjs message type. */
export function typeUrlOf(type: protobuf.Type): string {
  return typeUrlPrefix + type.fullName.slice(1);
}

function requireType(typeUrl: string): protobuf.Type {
  const type = lookupMessageType(typeUrl);
  if (!type) throw new UnknownTypeUrlError(typeUrl);
  return type;
}

/**
 * Encodes one resource given in proto3 JSON shape with its `"@type"` (e.g. a Listener) into an Any.
 * Throws {@link ResourceEncodingError} (bad field) or {@link UnknownTypeUrlError}.
 */
export function encodeAny(resource: JsonObject, options: EncodeOptions = {}): AnyMessage {
  const typeUrl = resource['@type'];
  if (typeof typeUrl !== 'string') throw new ResourceEncodingError('', 'missing "@type"');
  const type = requireType(typeUrl);
  return { type_url: typeUrl, value: encodeMessage(type, resource, '', options.verify ?? true) };
}

/** Options of {@link encodeAny}. */
export interface EncodeOptions {
  /**
   * Also run protobufjs `verify` on the built message (default true). The JSON → message conversion
   * already rejects unknown fields, wrong scalars and unknown enums; the snapshot cache skips the second
   * check on its hot path.
   */
  verify?: boolean;
}

/** Encodes a proto3-JSON object as the message `typeUrlOrName` (`"@type"` on the object is ignored). */
export function encodeMessageJson(typeUrlOrName: string, json: JsonObject): Uint8Array {
  return encodeMessage(requireType(typeUrlOrName), json, '', true);
}

/**
 * Decodes an Any into proto3 JSON shape with its `"@type"`; the inverse of {@link encodeAny}.
 * Throws {@link UnknownTypeUrlError} or protobufjs' decode error on malformed bytes.
 */
export function decodeAny(any: AnyMessage): JsonObject {
  const type = requireType(any.type_url);
  return { '@type': any.type_url, ...messageToJson(type, type.decode(any.value)) };
}

/**
 * Encodings of repeated sub-messages (routes, virtual hosts, filter chains…) by type and JSON text.
 * Proxies share most of them (every client of a router gets the same routes), and an edit changes few,
 * so the hot path encodes each distinct element once. Two generations bound the memory.
 */
const elementMemo = { current: new Map<string, Uint8Array>(), previous: new Map<string, Uint8Array>() };
const ELEMENT_MEMO_LIMIT = 100_000;
/**
 * Encodings of frozen values by identity: the compiler freezes what it shares between nodes (a
 * router's routes, see compile/route-memo.ts), and a frozen value cannot change, so it is encoded
 * once without even the JSON text of a memo key. Elements map to their message bytes; arrays to the
 * bytes of the whole repeated field (tag, length and element, for each element).
 */
const frozenEncodings = new WeakMap<object, { kind: string; bytes: Uint8Array }>();

function isFrozenObject(v: JsonValue): v is JsonObject | JsonValue[] {
  return typeof v === 'object' && v !== null && Object.isFrozen(v);
}

/** `kind`: what the bytes encode — a message type's full name, or a repeated field (type and number). */
function byIdentity(kind: string, value: object, encode: () => Uint8Array): Uint8Array {
  const hit = frozenEncodings.get(value);
  if (hit?.kind === kind) return hit.bytes;
  const bytes = encode();
  frozenEncodings.set(value, { kind, bytes });
  return bytes;
}

function memoizedElement(type: protobuf.Type, element: JsonValue, encode: () => Uint8Array): Uint8Array {
  if (isFrozenObject(element)) return byIdentity(type.fullName, element, encode);
  const key = `${type.fullName}\0${JSON.stringify(element)}`;
  let bytes = elementMemo.current.get(key);
  if (bytes) return bytes;
  bytes = elementMemo.previous.get(key) ?? encode();
  if (elementMemo.current.size >= ELEMENT_MEMO_LIMIT) {
    elementMemo.previous = elementMemo.current;
    elementMemo.current = new Map();
  }
  elementMemo.current.set(key, bytes);
  return bytes;
}

function isSplittable(field: protobuf.Field): boolean {
  return (
    field.repeated && !(field instanceof protobuf.MapField) && field.resolvedType instanceof protobuf.Type
  );
}

/** The wire bytes of repeated message field `field` holding `elements`, each through the memo. */
function encodeRepeated(field: protobuf.Field, elements: JsonValue[], key: string, path: string): Uint8Array {
  const elementType = field.resolvedType as protobuf.Type;
  const special = elementType.fullName.startsWith('.google.protobuf.');
  const writer = protobuf.Writer.create();
  elements.forEach((element, i) => {
    const elementPath = `${path ? `${path}.` : ''}${key}[${i}]`;
    const bytes = memoizedElement(elementType, element, () =>
      special
        ? elementType
            .encode(
              elementType.fromObject(messageValueToPlain(elementType, element, elementPath, false) as object),
            )
            .finish()
        : encodeMessage(elementType, element as JsonObject, elementPath, false),
    );
    writer.uint32((field.id << 3) | 2).bytes(bytes);
  });
  return writer.finish();
}

/**
 * Fast path (no `verify`): repeated message fields are encoded element by element through the memo and
 * appended to the encoding of the rest; protobuf allows fields in any order and repeated elements to be
 * written one by one, so the bytes decode to the same message.
 */
function encodeMessageSplit(type: protobuf.Type, json: JsonObject, path: string): Uint8Array {
  const rest: JsonObject = {};
  const tail: Uint8Array[] = [];
  for (const [key, value] of Object.entries(json)) {
    const field = key === '@type' ? undefined : fieldByJsonKey(type, key);
    field?.resolve();
    if (!field || !isSplittable(field) || !Array.isArray(value)) {
      rest[key] = value;
      continue;
    }
    const encode = () => encodeRepeated(field, value, key, path);
    // The field's bytes carry its number: one frozen array in two fields is two encodings.
    const kind = `${type.fullName}.${field.id}`;
    tail.push(isFrozenObject(value) ? byIdentity(kind, value, encode) : encode());
  }
  const base = type.encode(type.fromObject(jsonToPlain(type, rest, path, false))).finish();
  if (tail.length === 0) return base;
  return Buffer.concat([base, ...tail]);
}

function encodeMessage(type: protobuf.Type, json: JsonObject, path: string, verify: boolean): Uint8Array {
  if (!verify) {
    if (!isObject(json))
      throw new ResourceEncodingError(path, `expected an object for ${type.fullName.slice(1)}`);
    return encodeMessageSplit(type, json, path);
  }
  const plain = jsonToPlain(type, json, path, verify);
  const message = type.fromObject(plain);
  if (verify) {
    const problem = type.verify(message);
    if (problem) throw new ResourceEncodingError(path, `${type.fullName.slice(1)}: ${problem}`);
  }
  return type.encode(message).finish();
}

function fieldByJsonKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  const direct = type.fields[key];
  if (direct) return direct;
  return type.fieldsArray.find(
    (f) => f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) === key,
  );
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Converts proto3 JSON of message `type` into the plain-object form protobufjs' `fromObject` takes. */
function jsonToPlain(
  type: protobuf.Type,
  json: JsonValue,
  path: string,
  verify: boolean,
): Record<string, unknown> {
  if (!isObject(json))
    throw new ResourceEncodingError(path, `expected an object for ${type.fullName.slice(1)}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (key === '@type') continue;
    const fieldPath = path ? `${path}.${key}` : key;
    const field = fieldByJsonKey(type, key);
    if (!field) throw new ResourceEncodingError(fieldPath, `unknown field of ${type.fullName.slice(1)}`);
    if (value === null) continue;
    field.resolve();
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) throw new ResourceEncodingError(fieldPath, 'expected an object (map)');
      const map: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value))
        map[k] = valueToPlain(field, v, `${fieldPath}.${k}`, verify);
      out[field.name] = map;
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw new ResourceEncodingError(fieldPath, 'expected an array');
      out[field.name] = value.map((v, i) => valueToPlain(field, v, `${fieldPath}[${i}]`, verify));
    } else {
      out[field.name] = valueToPlain(field, value, fieldPath, verify);
    }
  }
  return out;
}

function valueToPlain(field: protobuf.Field, value: JsonValue, path: string, verify: boolean): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageValueToPlain(resolved, value, path, verify);
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' && value in resolved.values) return value;
    if (typeof value === 'number' && Object.values(resolved.values).includes(value)) return value;
    throw new ResourceEncodingError(
      path,
      `"${String(value)}" is not a value of enum ${resolved.fullName.slice(1)}`,
    );
  }
  return scalarToPlain(field.type, value, path);
}

function scalarToPlain(scalar: string, value: JsonValue, path: string): unknown {
  switch (scalar) {
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'bool':
      if (typeof value === 'boolean') return value;
      break;
    case 'bytes':
      if (typeof value === 'string') return value; // base64, as proto3 JSON
      break;
    case 'double':
    case 'float':
      if (typeof value === 'number') return value;
      break;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      if (
        (typeof value === 'number' && Number.isInteger(value)) ||
        (typeof value === 'string' && /^-?\d+$/.test(value))
      )
        return String(value);
      break;
    default:
      if (typeof value === 'number' && Number.isInteger(value)) {
        if (scalar.startsWith('u') || scalar === 'fixed32') {
          if (value < 0 || value > 0xffffffff) break;
        } else if (value < -0x80000000 || value > 0x7fffffff) break;
        return value;
      }
  }
  throw new ResourceEncodingError(path, `${JSON.stringify(value)} is not a valid ${scalar}`);
}

function messageValueToPlain(type: protobuf.Type, value: JsonValue, path: string, verify: boolean): unknown {
  const name = type.fullName;
  if (name === '.google.protobuf.Any') {
    if (!isObject(value) || typeof value['@type'] !== 'string')
      throw new ResourceEncodingError(path, 'an Any needs "@type"');
    const inner = lookupMessageType(value['@type']);
    if (!inner) throw new ResourceEncodingError(path, `unknown "@type" ${value['@type']}`);
    return { type_url: value['@type'], value: encodeMessage(inner, value, path, verify) };
  }
  if (name === '.google.protobuf.Duration') {
    if (typeof value !== 'string')
      throw new ResourceEncodingError(path, 'a Duration is a string like "1.5s"');
    return durationFromString(value, path);
  }
  if (wrapperTypes.has(name)) {
    const inner = type.fields.value!;
    return { value: scalarToPlain(inner.type, value, path) };
  }
  if (name === '.google.protobuf.Struct') {
    if (!isObject(value)) throw new ResourceEncodingError(path, 'a Struct is a JSON object');
    return structToPlain(value);
  }
  if (name === '.google.protobuf.Value') return valueMessageToPlain(value);
  if (name === '.google.protobuf.Empty') {
    if (!isObject(value) || Object.keys(value).length > 0)
      throw new ResourceEncodingError(path, 'Empty is {}');
    return {};
  }
  return jsonToPlain(type, value, path, verify);
}

function structToPlain(value: JsonObject): unknown {
  return { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, valueMessageToPlain(v)])) };
}

// protobufjs' bundled struct.proto names the Value fields in lowerCamelCase.
function valueMessageToPlain(value: JsonValue): unknown {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(valueMessageToPlain) } };
  return { structValue: structToPlain(value) };
}

/** Parses a proto3 JSON Duration (`"15s"`, `"0.250s"`, `"-1.5s"`) into seconds and nanos. */
function durationFromString(text: string, path: string): { seconds: string; nanos: number } {
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(text);
  if (!m) throw new ResourceEncodingError(path, `"${text}" is not a Duration (expected e.g. "1.5s")`);
  const sign = m[1] ? -1 : 1;
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  return { seconds: String(sign * Number(m[2])), nanos: sign * nanos };
}

/** Formats seconds + nanos as a proto3 JSON Duration string. */
function durationToString(seconds: number, nanos: number): string {
  const negative = seconds < 0 || nanos < 0;
  const s = Math.abs(seconds);
  const n = Math.abs(nanos);
  const frac = n === 0 ? '' : '.' + String(n).padStart(9, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${s}${frac}s`;
}

const toObjectOptions: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String };

/** Converts a decoded protobufjs message into proto3 JSON shape (defaults omitted). */
function messageToJson(type: protobuf.Type, message: protobuf.Message): JsonObject {
  return plainToJson(type, type.toObject(message, toObjectOptions)) as JsonObject;
}

function plainToJson(type: protobuf.Type, plain: Record<string, unknown>): JsonValue {
  const name = type.fullName;
  if (name === '.google.protobuf.Any') {
    const typeUrl = String(plain.type_url ?? '');
    const inner = requireType(typeUrl);
    const bytes = Buffer.from(String(plain.value ?? ''), 'base64');
    return { '@type': typeUrl, ...messageToJson(inner, inner.decode(bytes)) };
  }
  if (name === '.google.protobuf.Duration')
    return durationToString(Number(plain.seconds ?? 0), Number(plain.nanos ?? 0));
  if (wrapperTypes.has(name)) {
    const inner = type.fields.value!;
    return plain.value === undefined ? defaultScalar(inner.type) : (plain.value as JsonValue);
  }
  if (name === '.google.protobuf.Struct') return structToJson(plain);
  if (name === '.google.protobuf.Value') return valueMessageToJson(plain);
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    const value = plain[field.name];
    if (value === undefined) continue;
    field.resolve();
    const resolved = field.resolvedType;
    const convert = (v: unknown): JsonValue =>
      resolved instanceof protobuf.Type
        ? plainToJson(resolved, v as Record<string, unknown>)
        : (v as JsonValue);
    if (field instanceof protobuf.MapField) {
      out[field.name] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, convert(v)]),
      );
    } else if (field.repeated) {
      out[field.name] = (value as unknown[]).map(convert);
    } else {
      out[field.name] = convert(value);
    }
  }
  return out;
}

function defaultScalar(scalar: string): JsonValue {
  if (scalar === 'bool') return false;
  if (scalar === 'string' || scalar === 'bytes') return '';
  if (scalar.endsWith('64')) return '0';
  return 0;
}

function structToJson(plain: Record<string, unknown>): JsonObject {
  const fields = (plain.fields ?? {}) as Record<string, Record<string, unknown>>;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueMessageToJson(v)]));
}

function valueMessageToJson(plain: Record<string, unknown>): JsonValue {
  if (plain.numberValue !== undefined) return plain.numberValue as number;
  if (plain.stringValue !== undefined) return plain.stringValue as string;
  if (plain.boolValue !== undefined) return plain.boolValue as boolean;
  if (plain.structValue !== undefined) return structToJson(plain.structValue as Record<string, unknown>);
  if (plain.listValue !== undefined)
    return ((plain.listValue as { values?: Record<string, unknown>[] }).values ?? []).map(valueMessageToJson);
  return null;
}
