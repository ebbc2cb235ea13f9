// The seed's client stack under a max_active rule (issue 11): three
// application instances, each a postgres.js pool of 10 connections with
// prepare: true, run Drizzle transactions at once under one rule with
// max_active 5.  Checks: every transaction commits; named prepared
// statements are prepared once per session and reused; never more than 5
// sessions of the rule inside a transaction (sampled by a superuser session
// every few ms, and from timestamps taken inside each transaction); and
// transactions did wait for a slot.
//
// Run by test/node/run, which starts the server and sets PGHOST, PGPORT,
// SEED_RULE (the rule's name), SEED_MAX_ACTIVE and SEED_APP_ROLE.  Prints
// TAP ("ok 1 - ...") and exits non-zero when a check fails.
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { pgTable, integer } from 'drizzle-orm/pg-core';
import { sql, eq } from 'drizzle-orm';

const env = process.env;
const HOST = env.PGHOST ?? '127.0.0.1';
const PORT = Number(env.PGPORT);
const DB = env.PGDATABASE ?? 'postgres';
const RULE = env.SEED_RULE ?? 'seed';
const MAX_ACTIVE = Number(env.SEED_MAX_ACTIVE ?? 5);
const APP_ROLE = env.SEED_APP_ROLE ?? 'seed_app';
const INSTANCES = 3;
const POOL_SIZE = 10;
const TRANSFERS = Number(env.SEED_TRANSFERS ?? 60);   // per instance
const SLEEP_S = Number(env.SEED_SLEEP ?? 0.02);        // inside each transaction
const ACCOUNTS = 20;
const BALANCE = 1000;

// ------------------------------------------------------------------
// TAP
// ------------------------------------------------------------------
let nTest = 0;
let nFailed = 0;
function ok(cond, name, diag) {
  nTest++;
  if (!cond) nFailed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${nTest} - ${name}`);
  if (!cond && diag !== undefined)
    for (const l of String(diag).split('\n')) console.log(`# ${l}`);
  return cond;
}
const note = (s) => console.log(`# ${s}`);

// A hung server or client must not hang CI.
const watchdog = setTimeout(() => {
  console.log(`not ok ${nTest + 1} - test finished within 180 s`);
  console.log(`1..${nTest + 1}`);
  process.exit(1);
}, 180_000);

const connOpts = (user, application_name, max) => ({
  host: HOST, port: PORT, database: DB, user, max,
  prepare: true,
  connect_timeout: 60,           // longer than the rule's queue timeout
  connection: { application_name },
  onnotice: () => {},
});

const accounts = pgTable('accounts', {
  id: integer('id').primaryKey(),
  balance: integer('balance').notNull(),
  ops: integer('ops').notNull(),
});

// ------------------------------------------------------------------
// Setup, as the superuser (exempt from the rule)
// ------------------------------------------------------------------
const admin = postgres(connOpts('postgres', 'governor-test-admin', 1));
await admin.unsafe(`
  DROP TABLE IF EXISTS accounts;
  CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, ops int NOT NULL DEFAULT 0);
  INSERT INTO accounts (id, balance) SELECT g, ${BALANCE} FROM generate_series(1, ${ACCOUNTS}) g;
  GRANT SELECT, UPDATE ON accounts TO ${APP_ROLE};
`);
const [{ cap }] = await admin`SELECT max_active AS cap FROM governor.rule_usage WHERE rule = ${RULE}`;
ok(cap === MAX_ACTIVE, `rule ${RULE} is loaded with max_active ${MAX_ACTIVE}`, `max_active = ${cap}`);

// ------------------------------------------------------------------
// The sampler: a separate superuser session, every ~2 ms
// ------------------------------------------------------------------
const sampler = postgres(connOpts('postgres', 'governor-test-sampler', 1));
const samples = [];
const poolModes = new Set();
let sampling = true;
const sampleLoop = (async () => {
  while (sampling) {
    const [r] = await sampler`
      SELECT u.active, u.active_waiting,
             (SELECT count(*)::int FROM governor.servers
               WHERE application_name LIKE 'seed-%' AND state = 'active') AS in_xact,
             (SELECT string_agg(DISTINCT pool_mode, ',') FROM governor.pools
               WHERE application_name LIKE 'seed-%') AS pool_modes
        FROM governor.rule_usage u WHERE u.rule = ${RULE}`;
    samples.push(r);
    for (const m of (r.pool_modes ?? '').split(',')) if (m) poolModes.add(m);
    await new Promise((res) => setTimeout(res, 2));
  }
})();

// ------------------------------------------------------------------
// Three instances, each a pool of 10, running Drizzle transactions
// ------------------------------------------------------------------
const clients = [];
const dbs = [];
for (let i = 1; i <= INSTANCES; i++) {
  const c = postgres(connOpts(APP_ROLE, `seed-${i}`, POOL_SIZE));
  clients.push(c);
  dbs.push(drizzle(c));
}

// The server's clock in microseconds since the epoch, as text (exact in a double).
const nowUs = () => sql`(extract(epoch FROM clock_timestamp()) * 1000000)::int8::text`.mapWith(Number);
const spans = [];          // [t0, t1] of each transaction, server clock
const perPid = new Map();  // pid -> { transfers, checks: [...] }
let seq = 0;

function randInt(n) { return Math.floor(Math.random() * n); }

async function transfer(db) {
  const from = 1 + randInt(ACCOUNTS);
  let to = 1 + randInt(ACCOUNTS - 1);
  if (to >= from) to++;
  const amount = 1 + randInt(10);
  return db.transaction(async (tx) => {
    // Named prepared statements.  Drizzle asks postgres.js for a named
    // statement only for a query built with .prepare(name): its other
    // queries (and tx.execute(sql`...`) with parameters) go out unnamed even
    // with prepare: true.  Built on tx, they run on the transaction's
    // connection; postgres.js parses each text once per connection.
    const read = tx.select({ balance: accounts.balance, t0: nowUs(),
                             pid: sql`pg_backend_pid()`.mapWith(Number) })
      .from(accounts).where(eq(accounts.id, sql.placeholder('id'))).prepare('seed_read');
    const move = tx.update(accounts)
      .set({ balance: sql`${accounts.balance} + ${sql.placeholder('delta')}`, ops: sql`${accounts.ops} + 1` })
      .where(eq(accounts.id, sql.placeholder('id')))
      .returning({ t1: nowUs() })
      .prepare('seed_move');

    const [{ t0, pid }] = await read.execute({ id: from });
    await tx.execute(sql`SELECT pg_sleep(${SLEEP_S})`);
    // Lock order by id: no deadlock between transfers.
    const steps = from < to ? [[from, -amount], [to, amount]] : [[to, amount], [from, -amount]];
    let t1;
    for (const [id, delta] of steps)
      [{ t1 }] = await move.execute({ id, delta });

    // This session's named prepared statements, from inside the transaction.
    const ps = await tx.execute(sql`
      SELECT statement, generic_plans + custom_plans AS execs
        FROM pg_prepared_statements WHERE NOT from_sql AND name <> ''`);
    const p = perPid.get(pid) ?? { transfers: 0, bad: [] };
    p.transfers++;
    perPid.set(pid, p);
    const reads = ps.filter((r) => r.statement.startsWith('select') && r.statement.includes('pg_backend_pid()'));
    const moves = ps.filter((r) => r.statement.startsWith('update "accounts"'));
    if (reads.length !== 1 || moves.length !== 1 ||
        Number(reads[0].execs) !== p.transfers || Number(moves[0].execs) !== 2 * p.transfers)
      p.bad.push({ transfer: p.transfers, reads: reads.map((r) => r.execs), moves: moves.map((r) => r.execs) });
    spans.push([t0, t1, ++seq]);
  });
}

const started = Date.now();
const jobs = [];
for (const db of dbs)
  for (let k = 0; k < TRANSFERS; k++) jobs.push(transfer(db));
const results = await Promise.allSettled(jobs);
const elapsed = Date.now() - started;
sampling = false;
await sampleLoop;

// ------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------
const failed = results.filter((r) => r.status === 'rejected');
const total = INSTANCES * TRANSFERS;
ok(failed.length === 0, `all ${total} Drizzle transactions committed (${INSTANCES} pools x ${POOL_SIZE}, ${elapsed} ms)`,
   failed.slice(0, 5).map((r) => `${r.reason?.code ?? ''} ${r.reason?.message ?? r.reason}`).join('\n'));

const [sums] = await admin`SELECT sum(balance)::int AS balance, sum(ops)::int AS ops FROM accounts`;
ok(sums.balance === ACCOUNTS * BALANCE, `sum of balances unchanged (${sums.balance})`);
ok(sums.ops === 2 * total, `every transfer's two updates applied (${sums.ops} = 2 x ${total})`);

const pids = [...perPid.entries()];
const bad = pids.filter(([, p]) => p.bad.length > 0);
ok(pids.length > INSTANCES && bad.length === 0,
   `named prepared statements prepared once per session and reused (${pids.length} sessions, up to ${Math.max(...pids.map(([, p]) => p.transfers))} transfers each, pg_prepared_statements)`,
   bad.slice(0, 5).map(([pid, p]) => `pid ${pid}: ${JSON.stringify(p.bad[0])}`).join('\n'));

// Max overlap of the transactions' own [first statement, last statement].
const ev = [];
for (const [t0, t1] of spans) {
  ev.push([t0, 1]);
  ev.push([t1, -1]);
}
ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);   // an end before a start at the same instant
let running = 0;
let overlap = 0;
for (const [, d] of ev) { running += d; overlap = Math.max(overlap, running); }
ok(overlap <= MAX_ACTIVE, `never more than ${MAX_ACTIVE} transactions overlapped, from timestamps taken inside them (max ${overlap})`);
ok(overlap >= 2, `and transactions did run concurrently (max overlap ${overlap})`);

const maxOf = (k) => Math.max(...samples.map((s) => Number(s[k])));
ok(samples.length >= 50, `sampled the server ${samples.length} times while they ran`);
ok(maxOf('active') <= MAX_ACTIVE, `governor.rule_usage.active never above ${MAX_ACTIVE} (max ${maxOf('active')})`);
ok(maxOf('in_xact') <= MAX_ACTIVE, `governor.servers never showed more than ${MAX_ACTIVE} seed sessions in a transaction (max ${maxOf('in_xact')})`);
ok(maxOf('active_waiting') > 0, `sessions waited for a slot (rule_usage.active_waiting up to ${maxOf('active_waiting')})`);
ok(poolModes.size === 1 && poolModes.has('transaction'), `governor.pools shows pool_mode transaction for the seed pools (${[...poolModes].join(',')})`);

for (const c of clients) await c.end({ timeout: 5 });
let usage;
for (let i = 0; i < 50; i++) {
  [usage] = await admin`SELECT active, active_waiting, total_active_waits::int AS waits,
                               total_active_timeouts::int AS timeouts
                          FROM governor.rule_usage WHERE rule = ${RULE}`;
  if (usage.active === 0 && usage.active_waiting === 0) break;
  await new Promise((res) => setTimeout(res, 100));
}
ok(usage.waits > 0, `transactions waited for an active slot (rule_usage.total_active_waits = ${usage.waits})`);
ok(usage.timeouts === 0, `no wait reached the queue timeout (total_active_timeouts = ${usage.timeouts})`);
ok(usage.active === 0 && usage.active_waiting === 0, 'every slot given back once the pools closed');

note(`${total} transfers in ${elapsed} ms; ${samples.length} samples; max overlap ${overlap}; ${usage.waits} waits`);
await sampler.end({ timeout: 5 });
await admin.end({ timeout: 5 });
clearTimeout(watchdog);
console.log(`1..${nTest}`);
process.exit(nFailed ? 1 : 0);
