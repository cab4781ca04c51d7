/**
 * Reading manifests: files or directories of multi-document YAML (as `kubectl apply -f` takes them),
 * each document kept with its origin (file, document index, and a field path → line lookup built from
 * the `yaml` library's node ranges), so every issue can be reported as `file:line`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import {
  issue,
  locateIssue,
  type PathSegments,
  type ResourceOrigin,
  type ValidationIssue,
} from '../model/index.js';

/** One decoded YAML document (a Kubernetes object, or whatever the document holds) with its origin. */
export interface ManifestDocument {
  object: unknown;
  origin: ResourceOrigin;
}

/** Result of reading manifests: every document, plus YAML/file errors (located). */
export interface ManifestReadResult {
  documents: ManifestDocument[];
  issues: ValidationIssue[];
  /** Files read (absolute paths, sorted). */
  files: string[];
  /** Files that had a YAML syntax error (their documents may be incomplete). */
  brokenFiles: string[];
}

/** File names that sit beside manifests but are not resources (the local runtime's image map). */
export const NON_RESOURCE_FILES: ReadonlySet<string> = new Set(['images.yaml', 'images.yml']);

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** True if a file name is read as manifests: `.yaml`, `.yml`, `.json`, except {@link NON_RESOURCE_FILES}. */
export function isManifestFile(name: string): boolean {
  return MANIFEST_EXTENSIONS.has(extname(name).toLowerCase()) && !NON_RESOURCE_FILES.has(basename(name));
}

/**
 * Expands paths into the manifest files they name: a file is taken as given (whatever its extension),
 * a directory is walked recursively for {@link isManifestFile} files (hidden entries skipped).
 * Throws (ENOENT …) if a given path does not exist. Result is sorted and de-duplicated.
 */
export async function expandManifestPaths(paths: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && isManifestFile(e.name)) out.add(p);
    }
  };
  for (const p of paths) {
    const abs = resolve(p);
    if ((await stat(abs)).isDirectory()) await walk(abs);
    else out.add(abs);
  }
  return [...out].sort();
}

/** 1-based line of the node a field path reaches in a YAML document (nearest existing ancestor: key line). */
function locator(doc: Document, lines: LineCounter): (path: PathSegments) => number | undefined {
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? undefined : lines.linePos(offset).line;
  return (path) => {
    let node: unknown = doc.contents;
    let line = lineOf((node as YamlNode | null)?.range?.[0]);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
        if (!pair) break;
        line = lineOf((pair.key as YamlNode | null)?.range?.[0]) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
        node = node.items[seg];
        line = lineOf((node as YamlNode | null)?.range?.[0]) ?? line;
      } else break;
    }
    return line;
  };
}

/**
 * Decodes the YAML documents of one file's text. Empty documents are skipped; `kind: List` documents
 * are expanded into their `items`. YAML syntax errors become `TM_ERR_MESH_YAML` issues with the line.
 */
export function parseManifestText(
  text: string,
  file: string,
): { documents: ManifestDocument[]; issues: ValidationIssue[] } {
  const documents: ManifestDocument[] = [];
  const issues: ValidationIssue[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  // parseAllDocuments returns an EmptyStream (not an array) for a file with no documents.
  (Array.isArray(docs) ? docs : []).forEach((doc, documentIndex) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const i = issue('error', 'TM_ERR_MESH_YAML', [], `invalid YAML: ${e.message.split('\n')[0]}`);
        i.file = file;
        i.documentIndex = documentIndex;
        i.line = lines.linePos(e.pos[0]).line;
        issues.push(i);
      }
      return;
    }
    let object: unknown;
    try {
      object = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // An alias bomb (or a self-referencing merge key) fails here, after parsing succeeded.
      const i = issue('error', 'TM_ERR_MESH_YAML', [], `invalid YAML: ${(err as Error).message}`);
      i.file = file;
      i.documentIndex = documentIndex;
      i.line = lines.linePos(doc.range[0]).line;
      issues.push(i);
      return;
    }
    // Empty documents (`---` twice, trailing `---`, comments only) decode to null.
    if (object === null || object === undefined) return;
    const locate = locator(doc, lines);
    const o = object as { kind?: unknown; items?: unknown };
    if (typeof o?.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
      o.items.forEach((item, n) =>
        documents.push({
          object: item,
          origin: { file, documentIndex, locate: (p) => locate(['items', n, ...p]) },
        }),
      );
      return;
    }
    documents.push({ object, origin: { file, documentIndex, locate } });
  });
  return { documents, issues };
}

/**
 * Reads manifest files/directories (see {@link expandManifestPaths}) into documents with origins.
 * Unreadable files become issues, never exceptions (except a missing top-level path, which throws).
 */
export async function readManifests(paths: readonly string[]): Promise<ManifestReadResult> {
  const files = await expandManifestPaths(paths);
  const result: ManifestReadResult = { documents: [], issues: [], files, brokenFiles: [] };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      result.issues.push(
        locateIssue(issue('error', 'TM_ERR_MESH_YAML', [], `cannot read file: ${(err as Error).message}`), {
          file,
        }),
      );
      result.brokenFiles.push(file);
      continue;
    }
    const { documents, issues } = parseManifestText(text, file);
    result.documents.push(...documents);
    result.issues.push(...issues);
    if (issues.length > 0) result.brokenFiles.push(file);
  }
  return result;
}
