// hbpoold from Node.js (net module only): put, get, a scanner, an error reply, pipelined ids.
// Usage: HBPOOL_SOCKET=/path/to/hbpoold.sock node clients/examples/node.js TABLE  (family cf)
'use strict';
const net = require('net');

const table = process.argv[2] || process.env.HBPOOL_TABLE;
if (!process.env.HBPOOL_SOCKET || !table) {
  console.error('usage: HBPOOL_SOCKET=... node node.js TABLE');
  process.exit(2);
}
const pending = new Map();
let sock, nextId = 1, buffered = '';

// While hbpoold's listen queue is full (a burst of clients while it is busy), a Unix socket
// refuses a connect with EAGAIN at once: try again, 5 ms apart doubling to 100 ms, for up to 5 s.
function connect(path, deadline = Date.now() + 5000, delay = 5) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', (e) => {
      if (e.code !== 'EAGAIN' || Date.now() >= deadline) return reject(e);
      setTimeout(() => connect(path, deadline, Math.min(2 * delay, 100)).then(resolve, reject),
                 delay);
    });
  });
}

// Replies come back in the order they complete: match each to its request by id.
function onData(chunk) {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const reply = JSON.parse(buffered.slice(0, nl));
    buffered = buffered.slice(nl + 1);
    const waiter = pending.get(reply.id);
    if (!waiter) throw new Error('reply to an unknown id: ' + JSON.stringify(reply));
    pending.delete(reply.id);
    waiter(reply);
  }
}

// call resolves with the whole reply (result or error).
function call(method, params) {
  const id = nextId++;
  sock.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
  return new Promise((resolve) => pending.set(id, resolve));
}

async function ok(method, params) {
  const reply = await call(method, params);
  if (reply.error) throw new Error(method + ': ' + JSON.stringify(reply.error));
  return reply.result;
}

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want))
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
}

async function main() {
  sock = await connect(process.env.HBPOOL_SOCKET);
  sock.on('data', onData);
  expect('ping', await ok('ping'), 'pong');
  // Pipelined: both puts are written before either reply is read.
  await Promise.all([
    ok('put', { table, row: 'n1', data: { 'cf:lang': 'js' } }),
    ok('put', { table, row: 'n2', data: { 'cf:lang': 'node' } }),
  ]);
  console.log('put: n1 cf:lang=js, n2 cf:lang=node (pipelined)');
  const row = await ok('row', { table, row: 'n1' });
  expect('get n1', row, { 'cf:lang': 'js' });
  console.log('get: n1 cf:lang=' + row['cf:lang']);

  const { scanner } = await ok('scanner_open', { table, row_prefix: 'n' });
  const rows = [];
  for (;;) {
    const batch = await ok('scanner_next', { scanner, count: 1 });
    rows.push(...batch.rows);
    if (batch.done) break;
  }
  await ok('scanner_close', { scanner });
  expect('scan', rows, [['n1', { 'cf:lang': 'js' }], ['n2', { 'cf:lang': 'node' }]]);
  console.log('scan: ' + rows.map(([k, r]) => k + '=' + r['cf:lang']).join(' '));

  const bad = await call('row', { table: table + '_missing', row: 'n1' });
  if (!bad.error || bad.error.data.error !== 'hbase_io_error')
    throw new Error('expected hbase_io_error, got ' + JSON.stringify(bad));
  console.log('error: row of a missing table: ' + bad.error.data.error +
              ' (retryable ' + bad.error.data.retryable + ')');

  await Promise.all([ok('delete', { table, row: 'n1' }), ok('delete', { table, row: 'n2' })]);
  console.log('deleted n1, n2');
  sock.end();
}

main().catch((e) => { console.error('node.js example: ' + e.message); process.exit(1); });
