/**
 * Reading Kubernetes + App Mesh manifests (multi-document YAML) and the local image map.
 *
 * Only the fields the local runtime acts on are typed; everything else is kept verbatim so App
 * Mesh resources reach the control plane unchanged.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { ManifestError } from './errors.js';

/** `metadata` of any object. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any manifest document: `apiVersion`, `kind`, `metadata`, the rest untyped. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  [field: string]: unknown;
}

/** An environment variable of a container (value, or the downward API's `fieldRef`). */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

/** A container of a pod template (Kubernetes core/v1 Container, the fields we run). */
export interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { containerPort: number; name?: string; protocol?: string }[];
  workingDir?: string;
}

/** A Deployment (apps/v1), the fields we run. */
export interface DeploymentManifest extends Manifest {
  kind: 'Deployment';
  spec: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: { serviceAccountName?: string; containers: ContainerSpec[] };
    };
  };
}

/** A Service (core/v1), ClusterIP type with or without selector. */
export interface ServiceManifest extends Manifest {
  kind: 'Service';
  spec: {
    selector?: Record<string, string>;
    ports?: { name?: string; port: number; targetPort?: number | string; protocol?: string }[];
  };
}

/** The API group of App Mesh's CRDs. */
export const APPMESH_GROUP = 'appmesh.k8s.aws';

/** True for an App Mesh CRD document (`appmesh.k8s.aws/…`). */
export function isAppMesh(doc: Manifest): boolean {
  return doc.apiVersion.split('/')[0] === APPMESH_GROUP;
}

/** `kind/namespace/name` (namespace empty for cluster-scoped kinds): a stable object key. */
export function objectKey(doc: Manifest): string {
  return `${doc.kind}/${doc.metadata.namespace ?? ''}/${doc.metadata.name}`;
}

/** The manifests of a set of files, plus the image map found beside them. */
export interface ManifestSet {
  docs: Manifest[];
  images: ImageMap;
  /** Directories given (a `register.sh` there is run by `up`). */
  dirs: string[];
}

/** One image's local command: argv and working directory (absolute). */
export interface ImageEntry {
  command: string[];
  workdir?: string;
}

/** images.yaml: image name (with or without tag) → local command. */
export type ImageMap = Map<string, ImageEntry>;

const IMAGE_MAP_FILE = 'images.yaml';

/**
 * Reads manifests from files and directories (a directory contributes its `*.yaml`/`*.yml`
 * files, sorted, except `images.yaml`, which is read as the image map). Throws
 * {@link ManifestError} naming the file and document on malformed input.
 */
export async function loadManifests(paths: readonly string[]): Promise<ManifestSet> {
  const docs: Manifest[] = [];
  const images: ImageMap = new Map();
  const dirs: string[] = [];
  for (const p of paths) {
    const abs = path.resolve(p);
    const st = await stat(abs).catch((cause: unknown) => {
      throw new ManifestError(p, 'cannot read', { cause });
    });
    let files: string[];
    let dir: string;
    if (st.isDirectory()) {
      dir = abs;
      dirs.push(abs);
      files = (await readdir(abs))
        .filter((f) => /\.ya?ml$/.test(f) && f !== IMAGE_MAP_FILE)
        .sort()
        .map((f) => path.join(abs, f));
    } else {
      dir = path.dirname(abs);
      files = [abs];
    }
    for (const [k, v] of await loadImageMap(dir)) if (!images.has(k)) images.set(k, v);
    for (const file of files) docs.push(...parseManifests(await readFile(file, 'utf8'), file));
  }
  return { docs, images, dirs };
}

/** Parses multi-document YAML text into manifests; `source` names the input in errors. */
export function parseManifests(text: string, source: string): Manifest[] {
  const out: Manifest[] = [];
  parseAllDocuments(text).forEach((d, i) => {
    const where = `${source} (document ${i + 1})`;
    if (d.errors.length > 0) throw new ManifestError(where, d.errors[0]!.message);
    const value = d.toJS() as unknown;
    if (value === null || value === undefined) return;
    out.push(checkManifest(value, where));
  });
  return out;
}

function checkManifest(value: unknown, where: string): Manifest {
  if (typeof value !== 'object' || Array.isArray(value)) throw new ManifestError(where, 'expected an object');
  const doc = value as Partial<Manifest>;
  if (typeof doc.apiVersion !== 'string') throw new ManifestError(where, 'apiVersion: expected a string');
  if (typeof doc.kind !== 'string') throw new ManifestError(where, 'kind: expected a string');
  if (typeof doc.metadata?.name !== 'string' || doc.metadata.name === '')
    throw new ManifestError(where, 'metadata.name: expected a non-empty string');
  if (doc.kind === 'Deployment') {
    const containers = (doc as DeploymentManifest).spec?.template?.spec?.containers;
    if (!Array.isArray(containers) || containers.length === 0)
      throw new ManifestError(where, 'spec.template.spec.containers: expected at least one container');
  }
  return doc as Manifest;
}

/**
 * Reads `<dir>/images.yaml`: a map `image → { command: [argv…], workdir?: relative-or-absolute }`
 * (a bare list is taken as the command). A missing file yields an empty map.
 */
export async function loadImageMap(dir: string): Promise<ImageMap> {
  const file = path.join(dir, IMAGE_MAP_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return new Map();
  }
  const raw = parseYaml(text) as unknown;
  const map: ImageMap = new Map();
  if (raw === null || raw === undefined) return map;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ManifestError(file, 'expected a map of images');
  for (const [image, entry] of Object.entries(raw as Record<string, unknown>)) {
    const e = (Array.isArray(entry) ? { command: entry } : entry) as { command?: unknown; workdir?: unknown };
    if (!Array.isArray(e?.command) || !e.command.every((a) => typeof a === 'string'))
      throw new ManifestError(file, `${image}.command: expected a list of strings`);
    const workdir = typeof e.workdir === 'string' ? path.resolve(dir, e.workdir) : dir;
    map.set(image, { command: e.command as string[], workdir });
  }
  return map;
}

/** Looks `image` up in the map: exact, then without its tag, then its last path segment. */
export function resolveImage(images: ImageMap, image: string): ImageEntry | undefined {
  const untagged = image.replace(/:[^/:]+$/, '');
  return images.get(image) ?? images.get(untagged) ?? images.get(untagged.split('/').pop()!);
}

/** Label-selector match (`matchLabels` semantics: every key equal). */
export function labelsMatch(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
