/**
 * Config file reading shared by the identity server and agent: the SPIRE HCL subset and the
 * YAML/HCL choice by file extension. Imports nothing else of `identity/`.
 */
export { ConfigFileError, readConfigDocument, unreadKeys } from './file.js';
export { HclSyntaxError, parseHcl, type HclObject, type HclValue } from './hcl.js';
