// 03-node -- enqueue backfilld jobs from Node.js with the `pg` package, in
// the same transaction as the application's own write.
//
//   cd examples/03-node && npm ci
//   DATABASE_URL=postgresql://postgres@127.0.0.1:55433/backfill node enqueue.js [ITEM]
//
// An order is stored and its confirmation job enqueued in one transaction:
// both or neither.  A second order fails after enqueueing (the quantity is
// refused by the table's CHECK), its transaction rolls back, and its job is
// gone with it.  The jobs are for the task "log", which `make demo`'s daemon
// runs.  Plain CommonJS and promises: runs on Node 18 and later.
'use strict';

var pg = require('pg');

function fail(message) {
  console.error('enqueue.js: ' + message);
  process.exit(1);
}

// Stores the order and enqueues its job; returns { orderId, jobId }.  Runs
// inside the caller's transaction and commits nothing.
async function placeOrder(client, item, quantity) {
  var order = await client.query(
    'INSERT INTO orders (item, quantity) VALUES ($1, $2) RETURNING id',
    [item, quantity]);
  var orderId = order.rows[0].id;
  // Every value is a parameter ($1, $2, ...), never spliced into the SQL.
  // The payload goes as JSON text and is cast to jsonb.
  var payload = { example: '03-node', step: 'confirm order', order_id: orderId, item: item };
  var job = await client.query(
    'SELECT id FROM backfill.add_job($1, $2::jsonb, queue => $3, job_key => $4)',
    ['log', JSON.stringify(payload), 'fast', 'order-confirmation:' + orderId]);
  return { orderId: orderId, jobId: job.rows[0].id };
}

// Runs fn(client) between BEGIN and COMMIT; ROLLBACK if it throws.
async function inTransaction(client, fn) {
  await client.query('BEGIN');
  try {
    var result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

async function main() {
  var url = process.env.DATABASE_URL;
  if (!url) {
    fail('set DATABASE_URL, for instance postgresql://postgres@127.0.0.1:55433/backfill (make demo\'s database)');
  }
  if (process.argv.length > 3) {
    fail('usage: node enqueue.js [ITEM]');
  }
  var item = process.argv.length === 3 ? process.argv[2] : 'a book';
  if (item.trim() === '') {
    fail('ITEM must not be empty');
  }

  var client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    fail('cannot connect to DATABASE_URL: ' + err.message);
  }
  try {
    // a stand-in for the application's own table
    await client.query('CREATE TEMP TABLE orders (id serial PRIMARY KEY, item text NOT NULL, ' +
                       'quantity integer NOT NULL CHECK (quantity > 0))');

    var placed = await inTransaction(client, function (c) {
      return placeOrder(c, item, 1);
    });
    console.log('committed: order ' + placed.orderId + ' (' + item + '), job ' +
                placed.jobId + ' (task log, queue fast)');

    var lostJobId = null;
    try {
      await inTransaction(client, async function (c) {
        var job = await c.query('SELECT id FROM backfill.add_job($1, $2::jsonb)',
          ['log', JSON.stringify({ example: '03-node', step: 'rolled back' })]);
        lostJobId = job.rows[0].id;
        console.log('inside the second transaction: job ' + lostJobId + ' exists');
        await placeOrder(c, item, 0); // quantity 0 breaks the CHECK: throws
      });
      fail('the second order should have failed');
    } catch (err) {
      if (err.code !== '23514') { // check_violation
        throw err;
      }
      console.log('rolled back: ' + err.message);
    }
    var left = await client.query('SELECT count(*)::int AS n FROM backfill.jobs WHERE id = $1',
                                  [lostJobId]);
    console.log('job ' + lostJobId + ' after the rollback: ' +
                (left.rows[0].n ? 'still there' : 'gone, never ran'));
    var orders = await client.query('SELECT count(*)::int AS n FROM orders');
    console.log('orders: ' + orders.rows[0].n);
  } finally {
    await client.end();
  }
}

main().catch(function (err) {
  fail(err.message);
});
