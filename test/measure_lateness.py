#!/usr/bin/env python3
"""Client-side lateness of idle_in_transaction_timeout terminations.

Opens N sessions (libpq through ctypes, no driver needed), each runs
BEGIN; SELECT 1; and then sits idle in its transaction.  For each session
it takes t0 = when the last statement's result arrived and t1 = when the
server closed the connection, and prints lateness = (t1 - t0) - limit.

Usage: measure_lateness.py CONNINFO N LIMIT_SECONDS
"""
import ctypes
import ctypes.util
import select
import statistics
import sys
import time

lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
lib.PQconnectdb.restype = ctypes.c_void_p
lib.PQconnectdb.argtypes = [ctypes.c_char_p]
lib.PQstatus.argtypes = [ctypes.c_void_p]
lib.PQexec.restype = ctypes.c_void_p
lib.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.PQresultStatus.argtypes = [ctypes.c_void_p]
lib.PQclear.argtypes = [ctypes.c_void_p]
lib.PQsocket.argtypes = [ctypes.c_void_p]
lib.PQconsumeInput.argtypes = [ctypes.c_void_p]
lib.PQerrorMessage.restype = ctypes.c_char_p
lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
lib.PQfinish.argtypes = [ctypes.c_void_p]

CONNECTION_OK = 0
PGRES_COMMAND_OK = 1
PGRES_TUPLES_OK = 2


def exec_ok(conn, sql):
    res = lib.PQexec(conn, sql.encode())
    st = lib.PQresultStatus(res)
    lib.PQclear(res)
    if st not in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
        raise SystemExit("query failed: %s" % lib.PQerrorMessage(conn).decode())


def main():
    conninfo, n, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    conns = []
    for _ in range(n):
        c = lib.PQconnectdb(conninfo.encode())
        if lib.PQstatus(c) != CONNECTION_OK:
            raise SystemExit("connect failed: %s" % lib.PQerrorMessage(c).decode())
        conns.append(c)

    # Staggered starts, as sessions of a real application would be.
    t0 = {}
    for i, c in enumerate(conns):
        exec_ok(c, "BEGIN")
        exec_ok(c, "SELECT 1")
        t0[lib.PQsocket(c)] = (c, time.monotonic())
        time.sleep(0.037)

    open_socks = dict(t0)
    lateness = []
    messages = set()
    deadline = time.monotonic() + limit + 30
    while open_socks and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_socks), [], [], 1.0)
        now = time.monotonic()
        for s in ready:
            c, start = open_socks[s]
            # Read until the server has closed the socket.
            if lib.PQconsumeInput(c) == 0:
                lateness.append(now - start - limit)
                messages.add(lib.PQerrorMessage(c).decode().strip().splitlines()[0])
                del open_socks[s]
    for c in conns:
        lib.PQfinish(c)

    if open_socks:
        print("%d sessions were not terminated" % len(open_socks))
    lateness.sort()
    ms = [x * 1000 for x in lateness]

    def pct(p):
        return ms[min(len(ms) - 1, int(round(p / 100.0 * (len(ms) - 1))))]

    print("sessions terminated: %d of %d" % (len(ms), n))
    print("lateness beyond the limit (ms): min %.1f p50 %.1f p99 %.1f max %.1f mean %.1f"
          % (ms[0], pct(50), pct(99), ms[-1], statistics.mean(ms)))
    for m in sorted(messages):
        print("client saw: %s" % m)


if __name__ == "__main__":
    main()
