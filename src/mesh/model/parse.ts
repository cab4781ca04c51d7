/**
 * `parseResource`: the one edge where a manifest object becomes a typed resource.
 *
 * Steps, in Kubernetes' order: find the kind by apiVersion/kind; prune unknown nested fields of
 * structural schemas (warning per dropped field, as the API server's pruning); fill schema defaults and
 * validate with ajv collecting every error; fill admission defaults (awsName, reference namespaces,
 * egress filter); run the per-object admission rules of App Mesh's webhooks. Bad input is
 * reported, never thrown.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { admitObject } from './admission.js';
import { applyDefaults } from './defaults.js';
import { InvalidResourceError, issue, type ValidationIssue } from './errors.js';
import { lookupKind, type KindInfo, type MeshResource } from './kinds.js';
import { PRESERVE_UNKNOWN } from './schema/common.js';

/** Options of {@link parseResource}. */
export interface ParseOptions {
  /** Namespace given to namespaced objects without `metadata.namespace` (kubectl's default: `default`). */
  defaultNamespace?: string;
}

/** Outcome of {@link parseResource}. */
export type ParseResult =
  | { outcome: 'valid'; resource: MeshResource; warnings: ValidationIssue[] }
  | { outcome: 'invalid'; errors: ValidationIssue[]; warnings: ValidationIssue[] }
  /** A well-formed Kubernetes object of a kind the mesh does not read (ConfigMap, ClusterRole, …). */
  | { outcome: 'ignored'; warnings: ValidationIssue[] };

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validators = new Map<KindInfo, ValidateFunction>();

function validatorFor(info: KindInfo): ValidateFunction {
  let v = validators.get(info);
  if (!v) {
    v = ajv.compile(info.schema);
    validators.set(info, v);
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Drops fields unknown to a structural schema, in place, pushing one warning per dropped field.
 * Objects with {@link PRESERVE_UNKNOWN}, records (patternProperties) and untyped values are left alone.
 */
function prune(
  schema: TSchema,
  value: unknown,
  path: (string | number)[],
  obj: object,
  warnings: ValidationIssue[],
): void {
  if (Array.isArray(value) && schema.type === 'array' && schema.items) {
    value.forEach((item, i) => prune(schema.items as TSchema, item, [...path, i], obj, warnings));
    return;
  }
  if (!isPlainObject(value) || schema.type !== 'object') return;
  const properties = schema.properties as Record<string, TSchema> | undefined;
  if (properties) {
    for (const key of Object.keys(value)) {
      const sub = properties[key];
      if (sub) prune(sub, value[key], [...path, key], obj, warnings);
      else if (schema[PRESERVE_UNKNOWN] !== true) {
        delete value[key];
        warnings.push(
          issue(
            'warning',
            'TM_WARN_MESH_PRUNED',
            [...path, key],
            `unknown field "${key}" ignored (not in the ${String(
              (obj as { apiVersion?: unknown }).apiVersion,
            )} schema; Kubernetes prunes it)`,
            obj as never,
          ),
        );
      }
    }
  } else if (isPlainObject(schema.patternProperties)) {
    const [sub] = Object.values(schema.patternProperties as Record<string, TSchema>);
    if (sub) for (const key of Object.keys(value)) prune(sub, value[key], [...path, key], obj, warnings);
  }
}

/** Instance path → segments, using the data to tell array indexes from numeric-looking keys. */
function segmentsOf(pointer: string, data: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let cur: unknown = data;
  for (const raw of pointer ? pointer.slice(1).split('/') : []) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(key));
      cur = cur[Number(key)];
    } else {
      out.push(key);
      cur = isPlainObject(cur) ? cur[key] : undefined;
    }
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(data: unknown, segments: readonly (string | number)[]): unknown {
  let cur = data;
  for (const s of segments) cur = (cur as Record<string | number, unknown> | undefined)?.[s];
  return cur;
}

/** Turns ajv errors into issues with field paths and rules stated as the CRD states them. */
function schemaIssues(errors: readonly ErrorObject[], data: unknown): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && anyOfPaths.has(e.instancePath) && e.schemaPath.includes('/anyOf/')) continue;
    const segs = segmentsOf(e.instancePath, data);
    const found = valueAt(data, segs);
    const p = e.params as Record<string, unknown>;
    let rule: string;
    switch (e.keyword) {
      case 'required':
        segs.push(String(p.missingProperty));
        rule = 'required field missing';
        break;
      case 'enum':
        rule = `must be one of ${(p.allowedValues as unknown[]).join(', ')} (found ${describe(found)})`;
        break;
      case 'const':
        rule = `must be ${JSON.stringify(p.allowedValue)} (found ${describe(found)})`;
        break;
      case 'type':
        rule = `must be ${String(p.type)} (found ${describe(found)})`;
        break;
      case 'minimum':
      case 'maximum':
        rule = `must be ${e.keyword === 'minimum' ? '≥' : '≤'} ${String(p.limit)} (found ${String(found)})`;
        break;
      case 'minItems':
      case 'maxItems':
        rule = `must have ${e.keyword === 'minItems' ? 'at least' : 'at most'} ${String(p.limit)} items (found ${
          Array.isArray(found) ? found.length : '?'
        })`;
        break;
      case 'minLength':
      case 'maxLength':
        rule = `length must be ${e.keyword === 'minLength' ? '≥' : '≤'} ${String(p.limit)} (found ${
          typeof found === 'string' ? found.length : '?'
        })`;
        break;
      case 'anyOf':
        rule = `does not match any allowed form (found ${describe(found)})`;
        break;
      default:
        rule = e.message ?? e.keyword;
    }
    out.push(issue('error', 'TM_ERR_MESH_SCHEMA', segs, rule, data as never));
  }
  return out;
}

/**
 * Admission rules on a schema-invalid object, so one run reports every error: the rules read a shape the
 * schema did not guarantee, so a rule that trips over it is skipped, and errors under a path the schema
 * already flagged are left out.
 */
function admitInvalid(obj: MeshResource, schemaErrors: readonly ValidationIssue[]): ValidationIssue[] {
  let found: ValidationIssue[];
  try {
    const copy = structuredClone(obj);
    applyDefaults(copy);
    found = admitObject(copy).filter((i) => i.severity === 'error');
  } catch {
    return [];
  }
  return found.filter(
    (i) => !schemaErrors.some((e) => i.path.startsWith(e.path) || e.path.startsWith(i.path)),
  );
}

/**
 * Parses one manifest object (already decoded from YAML/JSON) into a typed, defaulted resource.
 *
 * Never throws for bad input: returns `valid` with the resource (a fresh copy; the input is not
 * modified) and pruning warnings, `invalid` with every error found (schema and per-object admission
 * rules of App Mesh's webhooks, reference §a), or `ignored` for Kubernetes kinds the mesh does not read.
 * Cross-object rules (mesh membership, references, pod matching) are checked by `buildMeshState`.
 */
export function parseResource(input: unknown, options: ParseOptions = {}): ParseResult {
  if (!isPlainObject(input) || typeof input.apiVersion !== 'string' || typeof input.kind !== 'string') {
    return {
      outcome: 'invalid',
      errors: [
        issue(
          'error',
          'TM_ERR_MESH_NOT_AN_OBJECT',
          [],
          'not a Kubernetes object: apiVersion and kind (strings) are required',
          isPlainObject(input) ? (input as never) : undefined,
        ),
      ],
      warnings: [],
    };
  }
  const info = lookupKind(input.apiVersion, input.kind);
  if (!info) {
    if (input.apiVersion.startsWith('appmesh.k8s.aws/')) {
      return {
        outcome: 'invalid',
        errors: [
          issue(
            'error',
            'TM_ERR_MESH_UNSUPPORTED_KIND',
            ['kind'],
            `unsupported App Mesh kind ${input.apiVersion}/${input.kind}: expected apiVersion appmesh.k8s.aws/v1beta2 and kind Mesh, VirtualNode, VirtualService, VirtualRouter, VirtualGateway, GatewayRoute or BackendGroup`,
            input as never,
          ),
        ],
        warnings: [],
      };
    }
    return {
      outcome: 'ignored',
      warnings: [
        issue(
          'warning',
          'TM_WARN_MESH_IGNORED',
          [],
          `kind ${input.apiVersion}/${input.kind} is not read by the mesh; ignored`,
          input as never,
        ),
      ],
    };
  }
  const obj = structuredClone(input) as Record<string, unknown>;
  if (info.namespaced && isPlainObject(obj.metadata) && obj.metadata.namespace === undefined) {
    obj.metadata.namespace = options.defaultNamespace ?? 'default';
  }
  const warnings: ValidationIssue[] = [];
  prune(info.schema, obj, [], obj, warnings);
  const validate = validatorFor(info);
  if (!validate(obj)) {
    const errors = schemaIssues(validate.errors ?? [], obj);
    errors.push(...admitInvalid(obj as unknown as MeshResource, errors));
    return { outcome: 'invalid', errors, warnings };
  }
  const resource = obj as unknown as MeshResource;
  if (!info.namespaced && isPlainObject(obj.metadata)) delete obj.metadata.namespace;
  applyDefaults(resource);
  const admission = admitObject(resource);
  warnings.push(...admission.filter((i) => i.severity === 'warning'));
  const errors = admission.filter((i) => i.severity === 'error');
  if (errors.length > 0) return { outcome: 'invalid', errors, warnings };
  return { outcome: 'valid', resource, warnings };
}

/** Like {@link parseResource} but throws {@link InvalidResourceError} (with every issue) unless valid. For literals in tests and tools. */
export function parseResourceOrThrow(input: unknown, options: ParseOptions = {}): MeshResource {
  const r = parseResource(input, options);
  if (r.outcome === 'valid') return r.resource;
  throw new InvalidResourceError(r.outcome === 'invalid' ? r.errors : r.warnings);
}
