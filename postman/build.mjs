// Build the Postman collection from the platform's OpenAPI document.
//
//   node postman/build.mjs OPENAPI_JSON [OUTPUT]            write the collection (default: next to this file)
//   node postman/build.mjs OPENAPI_JSON --check [OUTPUT]     exit 1 when OUTPUT differs from a fresh build
//
// `make postman-collection` runs it on `manage.py spectacular`'s document. The requests come from
// openapi-to-postmanv2 (every operation, its URL, headers and description); the bodies, path
// values and tests come from layer.mjs. An operation without a layer entry, or an entry without
// an operation, stops the build: the collection always covers exactly the API.
//
// The output is deterministic: the converter fakes example values with Math.random and the
// current date, so both are fixed before it loads, and item ids are derived from item names.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let state = 20261201;
Math.random = () => {
  // mulberry32: a small seeded generator, so faked values are the same on every build.
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const FIXED_NOW = Date.UTC(2026, 0, 1);
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(FIXED_NOW);
    else super(...args);
  }

  static now() {
    return FIXED_NOW;
  }
};

const { default: Converter } = await import('openapi-to-postmanv2');
const { FOLDERS, COLLECTION_PREREQUEST, testScript } = await import('./layer.mjs');

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_OUTPUT = join(HERE, 'credit-platform.postman_collection.json');
const COLLECTION_ID = 'c7b1e0a4-5f2d-4c58-9a1e-3d6f0b2a9c41';

function convert(openapi) {
  const options = {
    folderStrategy: 'Paths',
    parametersResolution: 'Example',
    enableOptionalParameters: false,
    alwaysInheritAuthentication: true,
    requestNameSource: 'Fallback',
  };
  return new Promise((resolve, reject) => {
    Converter.convertV2({ type: 'string', data: openapi }, options, (error, result) => {
      if (error) reject(error);
      else if (!result.result) reject(new Error(result.reason));
      else resolve(result.output[0].data);
    });
  });
}

function* requests(items) {
  for (const item of items) {
    if (item.item) yield* requests(item.item);
    else yield item;
  }
}

/** "METHOD /path/{var}/" of a generated request, as the OpenAPI document names the operation. */
function operationKey(item) {
  const path = item.request.url.path.map((part) => (part.startsWith(':') ? `{${part.slice(1)}}` : part));
  return `${item.request.method} /${path.join('/')}`;
}

function uuidFrom(text) {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function script(exec) {
  return { type: 'text/javascript', exec };
}

/** One collection request from a generated one and its layer entry. */
function layered(generated, request, folder) {
  const item = structuredClone(generated);
  const http = item.request;
  item.name = request.name;
  http.name = request.name;
  delete http.auth; // inherit the collection's API key
  delete item.response; // faked example answers add nothing to the OpenAPI document
  for (const variable of http.url.variable ?? []) {
    if (!(variable.key in (request.path ?? {}))) {
      throw new Error(`${operationKey(generated)}: layer.mjs gives no value for the path variable ${variable.key}`);
    }
    variable.value = request.path[variable.key];
  }
  const query = Object.entries(request.query ?? {});
  for (const param of http.url.query ?? []) {
    const given = query.find(([key]) => key === param.key);
    param.disabled = !given;
    if (given) param.value = given[1];
  }
  for (const [key] of query) {
    if (!(http.url.query ?? []).some((param) => param.key === key)) {
      throw new Error(`${operationKey(generated)}: the API has no query parameter ${key}`);
    }
  }
  for (const [key, value] of Object.entries(request.headers ?? {})) {
    http.header = http.header.filter((header) => header.key.toLowerCase() !== key.toLowerCase());
    http.header.push({ key, value });
  }
  if (request.formdata !== undefined) {
    // A multipart upload: each part is {key, type: 'file', src} (a path from the repository's
    // root, where make postman and the tests run newman) or {key, type: 'text', value}.
    if (http.body?.mode !== 'formdata') throw new Error(`${operationKey(generated)}: the API takes no multipart body`);
    const known = new Set((http.body.formdata ?? []).map((part) => part.key));
    for (const part of request.formdata) {
      if (!known.has(part.key)) throw new Error(`${operationKey(generated)}: the API has no form field ${part.key}`);
    }
    http.body.formdata = request.formdata.map((part) => ({ ...part }));
  } else if (request.body !== undefined) {
    if (http.body?.mode !== 'raw') throw new Error(`${operationKey(generated)}: the API takes no JSON body`);
    http.body.raw = JSON.stringify(request.body, null, 2);
  } else if (http.body?.mode === 'raw' || http.body?.mode === 'formdata') {
    throw new Error(`${operationKey(generated)}: layer.mjs gives no body for "${request.name}"`);
  }
  item.event = [{ listen: 'test', script: script(testScript(request)) }];
  item.id = uuidFrom(`${folder.name}/${request.name}`);
  return item;
}

export async function build(openapi) {
  const generated = await convert(openapi);
  const byOperation = new Map();
  for (const item of requests(generated.item)) byOperation.set(operationKey(item), item);

  const covered = new Set();
  const folders = FOLDERS.map((folder) => {
    const items = [];
    for (const [operation, list] of Object.entries(folder.requests)) {
      const item = byOperation.get(operation);
      if (!item) throw new Error(`layer.mjs: ${operation} is not an operation of the OpenAPI document`);
      covered.add(operation);
      for (const request of list) items.push(layered(item, request, folder));
    }
    return { id: uuidFrom(folder.name), name: folder.name, description: folder.description, item: items };
  });
  const missing = [...byOperation.keys()].filter((operation) => !covered.has(operation));
  if (missing.length) {
    throw new Error(`layer.mjs has no entry (body and tests) for: ${missing.join(', ')}`);
  }

  return {
    info: {
      _postman_id: COLLECTION_ID,
      name: generated.info.name,
      description:
        `${generated.info.description?.content ?? ''}\n\nGenerated from the OpenAPI document by postman/build.mjs ` +
        '(openapi-to-postmanv2) with the bodies and tests of postman/layer.mjs; do not edit by hand. Set the ' +
        'environment variables baseUrl and apiKey (an admin API key: python manage.py create_api_key postman ' +
        '--role admin).',
      schema: generated.info.schema,
    },
    auth: {
      type: 'apikey',
      apikey: [
        { key: 'key', value: 'X-API-Key', type: 'string' },
        { key: 'value', value: '{{apiKey}}', type: 'string' },
        { key: 'in', value: 'header', type: 'string' },
      ],
    },
    event: [{ listen: 'prerequest', script: script(COLLECTION_PREREQUEST) }],
    variable: [{ key: 'baseUrl', value: 'http://127.0.0.1:8000' }],
    item: folders,
  };
}

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const [openapiPath, output = DEFAULT_OUTPUT] = args.filter((arg) => arg !== '--check');
  if (!openapiPath) {
    console.error('usage: node build.mjs OPENAPI_JSON [--check] [OUTPUT]');
    process.exit(2);
  }
  const text = `${JSON.stringify(await build(readFileSync(openapiPath, 'utf8')), null, 2)}\n`;
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(output, 'utf8');
    } catch {
      // a missing file differs
    }
    if (committed !== text) {
      console.error(`${output} is not what the OpenAPI document and layer.mjs give: run make postman-collection`);
      process.exit(1);
    }
    console.log(`${output} is up to date`);
    return;
  }
  writeFileSync(output, text);
  console.log(`wrote ${output}`);
}

await main();
