'use strict';
/*
 * sfnd_node_runtime.js - sfnd's Node.js runtime shim: runs a nodejs<N>.x
 * function's handler with the machine's node, speaking the Lambda Runtime
 * API (AWS "Using the Lambda runtime API for custom runtimes") to sfnd's
 * local Lambda, as AWS's runtime interface client does on Lambda.
 *
 * Started by sfnd (src/lambda/lam_runtime.c) as `node sfnd_node_runtime.js`
 * in the function's folder, with _HANDLER, LAMBDA_TASK_ROOT,
 * AWS_LAMBDA_RUNTIME_API and the other AWS_LAMBDA_* variables set.
 *
 *  - init: the handler "path/file.fn.nested" is file path/file(.js|.mjs|.cjs)
 *    under LAMBDA_TASK_ROOT, loaded with import() (CommonJS or ES module),
 *    and fn.nested looked up in its exports. A failure goes to
 *    /runtime/init/error and the process exits: Runtime.ImportModuleError
 *    (no such module), Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound,
 *    Runtime.MalformedHandlerName, or the error a module threw at import.
 *  - each invocation: GET /next, then handler(event, context, callback).
 *    An async handler (a promise) ends when it settles. A callback handler
 *    ends when the callback is called and, while
 *    context.callbackWaitsForEmptyEventLoop is true (the default), the event
 *    loop has nothing else to do; a handler that neither returns a promise
 *    nor calls back ends with null when the loop is empty.
 *  - the context: awsRequestId, functionName, functionVersion,
 *    invokedFunctionArn, memoryLimitInMB, logGroupName, logStreamName,
 *    identity, clientContext, getRemainingTimeInMillis(), done/succeed/fail.
 *  - errors: {"errorType", "errorMessage", "trace": [stack lines]} (the
 *    shape AWS's Node.js runtime gives) to /invocation/{id}/error.
 *  - console.* lines go to stdout as "<time>\t<request id>\t<LEVEL>\t<text>".
 *
 * Must not: depend on any package, keep a timeout on GET /next (the
 * process waits there between invocations), let a handler's exception
 * escape the loop, print anything but the function's own logs.
 */
const http = require('http');
const path = require('path');
const fs = require('fs');
const util = require('util');
const { pathToFileURL } = require('url');

const API = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
const [HOST, PORT] = [API.slice(0, API.lastIndexOf(':')), Number(API.slice(API.lastIndexOf(':') + 1))];
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/* ---- the Runtime API ----------------------------------------------------- */
function call(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const h = Object.assign({}, headers || {});
    if (data) {
      h['Content-Type'] = h['Content-Type'] || 'application/json';
      h['Content-Length'] = data.length;
    }
    const req = http.request({ host: HOST, port: PORT, path: BASE + p, method, agent, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

function errorBody(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message === undefined ? '' : String(err.message),
      trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
    };
  }
  let msg;
  try {
    msg = typeof err === 'string' ? err : JSON.stringify(err);
  } catch (e) {
    msg = String(err);
  }
  return { errorType: typeof err, errorMessage: msg === undefined ? String(err) : msg, trace: [] };
}

function postError(p, err) {
  const body = errorBody(err);
  /* a header value: printable ASCII only */
  const type = String(body.errorType).replace(/[^\x20-\x7e]/g, '_');
  return call('POST', p, JSON.stringify(body), { 'Lambda-Runtime-Function-Error-Type': type });
}

/* ---- logging --------------------------------------------------------------- */
let currentRequestId;
function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
  for (const [name, level] of Object.entries(levels)) {
    console[name] = (...args) => {
      let text = util.format(...args);
      if (name === 'trace') text += '\n' + new Error().stack.split('\n').slice(2).join('\n');
      process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${text}\n`);
    };
  }
}

/* ---- the handler ----------------------------------------------------------- */
class HandlerError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

async function loadHandler(root, handler) {
  const slash = handler.lastIndexOf('/');
  const dot = handler.indexOf('.', slash + 1);
  if (!handler || dot < 0 || dot === handler.length - 1) {
    throw new HandlerError('Runtime.MalformedHandlerName', `Bad handler ${handler}: not file.function`);
  }
  const modPath = handler.slice(0, dot);
  const fnPath = handler.slice(dot + 1).split('.');
  let file;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const f = path.resolve(root, modPath + ext);
    if (fs.existsSync(f)) {
      file = f;
      break;
    }
  }
  if (file === undefined) {
    throw new HandlerError('Runtime.ImportModuleError', `Error: Cannot find module '${modPath}' in ${root}`);
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    if (e instanceof SyntaxError) throw new HandlerError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`);
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new HandlerError('Runtime.ImportModuleError', `Error: ${e.message}`);
    }
    throw e;
  }
  const find = (obj) => fnPath.reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
  let fn = find(mod);
  if (fn === undefined && mod.default !== undefined) fn = find(mod.default);
  if (typeof fn !== 'function') {
    throw new HandlerError('Runtime.HandlerNotFound', `${handler} is undefined or not exported`);
  }
  return fn;
}

function parseJsonHeader(v) {
  if (v === undefined || v === '') return undefined;
  try {
    return JSON.parse(v);
  } catch (e) {
    return undefined;
  }
}

function makeContext(h, settle) {
  const deadline = Number(h['lambda-runtime-deadline-ms']);
  const ctx = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: h['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parseJsonHeader(h['lambda-runtime-cognito-identity']),
    clientContext: parseJsonHeader(h['lambda-runtime-client-context']),
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    done: (err, result) => settle(err, result, false),
    succeed: (result) => settle(null, result, false),
    fail: (err) => settle(err === undefined || err === null ? new Error('handled') : err, undefined, false),
  };
  return ctx;
}

/* The event loop has nothing left but us: 'beforeExit' fires then. */
function loopEmpty() {
  return new Promise((resolve) => process.once('beforeExit', resolve));
}

/* Run one invocation: resolves to {error} or {result}. */
function runHandler(fn, event, h) {
  return new Promise((resolve) => {
    let done = false;
    let ctx;
    const settle = (err, result, fromCallback) => {
      if (done) return;
      done = true;
      const outcome = err !== undefined && err !== null ? { error: err } : { result };
      if (fromCallback && ctx.callbackWaitsForEmptyEventLoop) loopEmpty().then(() => resolve(outcome));
      else resolve(outcome);
    };
    ctx = makeContext(h, settle);
    const callback = (err, result) => settle(err, result, true);
    let ret;
    try {
      ret = fn(event, ctx, callback);
    } catch (e) {
      settle(e, undefined, false);
      return;
    }
    if (ret && typeof ret.then === 'function') {
      ret.then((r) => settle(null, r, false), (e) => settle(e === undefined || e === null ? new Error(String(e)) : e, undefined, false));
    } else {
      /* no promise: the callback ends it; without one, an empty loop does */
      loopEmpty().then(() => settle(null, null, false));
    }
  });
}

async function invokeOnce(fn) {
  const next = await call('GET', '/invocation/next');
  const h = next.headers;
  const id = h['lambda-runtime-aws-request-id'];
  currentRequestId = id;
  if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;
  let event;
  try {
    event = JSON.parse(next.body.toString('utf8'));
  } catch (e) {
    await postError(`/invocation/${id}/error`, new HandlerError('Runtime.UnmarshalError', `Unable to parse the event: ${e.message}`));
    return;
  }
  const out = await runHandler(fn, event, h);
  if ('error' in out) {
    const b = errorBody(out.error);
    console.error('Invoke Error \t' + JSON.stringify(b));
    await postError(`/invocation/${id}/error`, out.error);
    return;
  }
  let text;
  try {
    text = JSON.stringify(out.result === undefined ? null : out.result);
  } catch (e) {
    await postError(`/invocation/${id}/error`, new HandlerError('Runtime.MarshalError', `Unable to stringify the response: ${e.message}`));
    return;
  }
  await call('POST', `/invocation/${id}/response`, text === undefined ? 'null' : text);
}

async function main() {
  patchConsole();
  let fn;
  try {
    fn = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), process.env._HANDLER || '');
  } catch (e) {
    console.error(`Init Error \t${JSON.stringify(errorBody(e))}`);
    await postError('/init/error', e).catch(() => {});
    process.exit(1);
  }
  for (;;) {
    await invokeOnce(fn);
    currentRequestId = undefined;
  }
}

/* a rejection or exception nobody handled ends the process, as on Lambda */
process.on('unhandledRejection', (e) => {
  console.error(`Unhandled Promise Rejection \t${JSON.stringify(errorBody(e))}`);
  process.exit(128);
});

main().catch((e) => {
  process.stderr.write(`sfnd node runtime: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
