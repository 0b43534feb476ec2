// Runs the real @neondatabase/serverless HTTP driver (`neon()`) against an SQL-over-HTTP
// endpoint and prints what it got back as one JSON object, so tests/test_neon_fixture.py can
// prove tests/support/neon_http_fixture.py answers the way the driver expects from Neon.
//
// Usage: node tests/js/neon_driver_check.mjs <endpoint URL, e.g. http://127.0.0.1:PORT/sql> <postgresql:// URL>
// The database must be empty of a table named driver_check (the script creates it).
import { neon, neonConfig, NeonDbError } from '@neondatabase/serverless';

const [endpoint, connectionString] = process.argv.slice(2);
if (!endpoint || !connectionString) {
  console.error('usage: neon_driver_check.mjs <endpoint> <connection string>');
  process.exit(2);
}
neonConfig.fetchEndpoint = endpoint;
const sql = neon(connectionString);

/** A driver error as plain JSON (the fields NeonDbError copies from Neon's answer). */
function describe(err) {
  if (!(err instanceof NeonDbError)) throw err;
  return {
    name: err.name,
    message: err.message,
    code: err.code ?? null,
    constraint: err.constraint ?? null,
    table: err.table ?? null,
    severity: err.severity ?? null,
    detail: err.detail ?? null,
    position: err.position ?? null,
  };
}

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return describe(err);
  }
  return { name: 'no error' };
}

const count = async () => (await sql`SELECT count(*)::int AS n FROM driver_check`)[0].n;
const out = {};

// DDL: Neon has no row count for it (rowCount null), seen through fullResults.
const ddl = await sql.query(
  'CREATE TABLE driver_check (id int PRIMARY KEY, label text NOT NULL, tags text[], doc jsonb)',
  [],
  { fullResults: true },
);
out.ddl = { command: ddl.command, rowCount: ddl.rowCount, rows: ddl.rows, fields: ddl.fields };

// A plain query with parameters, as a tagged template and as sql.query(); the driver parses
// the raw text output by type (int4, bool, jsonb, text[], int8 stays a string).
const big = 9007199254740993n;
out.tagged = await sql`SELECT ${41}::int + 1 AS n, ${"it's"}::text AS t, ${true}::bool AS b,
  ${{ k: [1, 'two'] }}::jsonb AS j, ${['a', 'b"c', null]}::text[] AS arr, ${big.toString()}::int8 AS big,
  ${null}::text AS nothing`;
const inserted = await sql.query(
  'INSERT INTO driver_check (id, label, tags, doc) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)',
  [1, 'one', ['x', 'y'], { a: 1 }, 2, 'two', null, null],
  { fullResults: true },
);
out.insert = { command: inserted.command, rowCount: inserted.rowCount, rows: inserted.rows };

// arrayMode: rows as arrays, with fullResults too.
out.arrayMode = await sql.query('SELECT id, label FROM driver_check ORDER BY id', [], { arrayMode: true });
const full = await sql.query('SELECT id, label FROM driver_check ORDER BY id', [], {
  arrayMode: true,
  fullResults: true,
});
out.arrayModeFull = {
  command: full.command,
  rowCount: full.rowCount,
  rowAsArray: full.rowAsArray,
  rows: full.rows,
  fields: full.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
};

// A transaction (one batch request) with an isolation level: every query sees the same
// transaction, and the last reports its settings.
const txn = await sql.transaction(
  (tx) => [
    tx`INSERT INTO driver_check (id, label) VALUES (${3}, ${'three'})`,
    tx`UPDATE driver_check SET label = label || '!' WHERE id <= ${2}`,
    tx`SELECT txid_current() AS a`,
    tx`SELECT txid_current() AS b, current_setting('transaction_isolation') AS isolation,
         current_setting('transaction_read_only') AS read_only`,
  ],
  { isolationLevel: 'Serializable', fullResults: true },
);
out.transaction = txn.map((r) => ({ command: r.command, rowCount: r.rowCount, rows: r.rows }));

// A read-only, deferrable transaction reports those settings; a write in one fails.
out.readOnly = await sql.transaction(
  [
    sql`SELECT current_setting('transaction_isolation') AS isolation,
          current_setting('transaction_read_only') AS read_only,
          current_setting('transaction_deferrable') AS deferrable`,
    sql`SELECT count(*)::int AS n FROM driver_check`,
  ],
  { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
);
out.readOnlyWrite = await failure(
  sql.transaction([sql`INSERT INTO driver_check (id, label) VALUES (${50}, ${'nope'})`], { readOnly: true }),
);
out.readOnlyWriteCount = await count();

// A failing transaction rolls back entirely: the first two statements succeed, the third
// violates the primary key; afterwards none of it is visible.
const before = await count();
out.failedTransaction = await failure(
  sql.transaction([
    sql`INSERT INTO driver_check (id, label) VALUES (${10}, ${'ten'})`,
    sql`UPDATE driver_check SET label = ${'changed'}`,
    sql`INSERT INTO driver_check (id, label) VALUES (${1}, ${'duplicate'})`,
  ]),
);
out.afterFailedTransaction = {
  before,
  after: await count(),
  ten: await sql`SELECT id FROM driver_check WHERE id = ${10}`,
  labels: await sql`SELECT label FROM driver_check ORDER BY id`,
};

// A single failing query: Neon's error fields reach NeonDbError.
out.queryError = await failure(sql`SELECT * FROM no_such_table`);
out.notNull = await failure(sql`INSERT INTO driver_check (id, label) VALUES (${99}, ${null})`);

// Results of other transaction shapes: DDL inside a batch has rowCount null too.
out.ddlInTransaction = (
  await sql.transaction([sql`CREATE INDEX driver_check_label ON driver_check (label)`, sql`SELECT 1 AS one`], {
    fullResults: true,
  })
).map((r) => ({ command: r.command, rowCount: r.rowCount, rows: r.rows }));

console.log(JSON.stringify(out));
