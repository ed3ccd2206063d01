#!/usr/bin/env python3
"""02-python -- enqueue backfilld jobs from Python with psycopg2, in the same
transaction as the application's own write.

    DATABASE_URL=postgresql://postgres@127.0.0.1:55433/backfill \\
        python3 examples/02-python/enqueue.py [EMAIL]

A sign-up stores the user and enqueues its welcome job in one transaction:
both or neither.  The second sign-up fails after enqueueing (the e-mail
address is taken), its transaction rolls back, and its job is gone with it.
The jobs are for the task "log", which `make demo`'s daemon runs.
"""
import os
import sys

try:
    import psycopg2
    import psycopg2.errors
    from psycopg2.extras import Json
except ImportError:
    sys.exit("enqueue.py: the psycopg2 module is missing: install it with "
             "`apt-get install python3-psycopg2` (Debian) or "
             "`pip install psycopg2-binary` (in a virtualenv)")


def sign_up(conn, email):
    """Adds the user, its welcome job and an audit job; returns the three
    ids.  Runs inside the caller's transaction and commits nothing."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (email) VALUES (%s) RETURNING id",
                    (email,))
        user_id = cur.fetchone()[0]
        # add_job with named parameters; psycopg2 passes every value as a
        # parameter, never spliced into the SQL text.  The job key makes a
        # repeated call replace the waiting job instead of adding a second.
        cur.execute(
            "SELECT id FROM backfill.add_job(%s, %s, queue => %s, "
            "job_key => %s)",
            ("log",
             Json({"example": "02-python", "step": "welcome",
                   "user_id": user_id, "email": email}),
             "fast",
             "welcome:%d" % user_id))
        welcome_id = cur.fetchone()[0]
        # the same with a plain INSERT
        cur.execute(
            "INSERT INTO backfill.jobs (task, payload) VALUES (%s, %s) "
            "RETURNING id",
            ("log", Json({"example": "02-python", "step": "audit",
                          "user_id": user_id})))
        return user_id, welcome_id, cur.fetchone()[0]


def main():
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("enqueue.py: set DATABASE_URL, for instance "
                 "postgresql://postgres@127.0.0.1:55433/backfill "
                 "(make demo's database)")
    if len(sys.argv) > 2:
        sys.exit("usage: enqueue.py [EMAIL]")
    email = sys.argv[1] if len(sys.argv) == 2 else "ada@example.com"
    if "@" not in email:
        sys.exit("enqueue.py: %r is not an e-mail address" % email)

    try:
        conn = psycopg2.connect(url)
    except psycopg2.Error as e:
        sys.exit("enqueue.py: cannot connect to DATABASE_URL: %s" % e)
    with conn:
        with conn.cursor() as cur:
            # a stand-in for the application's own table
            cur.execute("CREATE TEMP TABLE users "
                        "(id serial PRIMARY KEY, email text NOT NULL UNIQUE)")

    # `with conn:` is one transaction: commit at the end of the block,
    # rollback if it raises.
    with conn:
        user_id, welcome_id, audit_id = sign_up(conn, email)
    print("committed: user %d <%s>, welcome job %d (queue fast), audit job %d"
          % (user_id, email, welcome_id, audit_id))

    try:
        with conn:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT id FROM backfill.add_job(%s, %s)",
                    ("log", Json({"example": "02-python",
                                  "step": "rolled back"})))
                job_id = cur.fetchone()[0]
            print("inside the second transaction: job %d exists" % job_id)
            sign_up(conn, email)  # the address is taken: raises
        sys.exit("enqueue.py: the second sign-up should have failed")
    except psycopg2.errors.UniqueViolation as e:
        print("rolled back: %s" % e.diag.message_primary)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM backfill.jobs WHERE id = %s",
                    (job_id,))
        print("job %d after the rollback: %s" % (
            job_id, "still there" if cur.fetchone()[0] else "gone, never ran"))
        cur.execute("SELECT count(*) FROM users")
        print("users: %d" % cur.fetchone()[0])
    conn.close()


if __name__ == "__main__":
    main()
