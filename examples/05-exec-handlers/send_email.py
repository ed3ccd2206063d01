#!/usr/bin/env python3
"""send_email.py OUTBOX -- an exec task handler in Python: "sends" the e-mail
described by the job's payload by writing it into the OUTBOX directory.

backfilld's exec plugin runs it once per job (no shell): the payload arrives
as JSON on stdin, the job's details in BACKFILL_* environment variables,
stdout lines go to the daemon's log, and the exit status decides the job:

    0                   done: the job is deleted
    75 (EX_TEMPFAIL)    retry later, with the daemon's backoff, until the
                        job's max_attempts are used up (then: dead letter)
    anything else       permanent failure: straight to backfill.dlq, with
                        the end of stderr as the job's error

Payload: {"to": "ada@example.com", "subject": "...", "body": "...",
          "simulate_outage_attempts": N}
The last key pretends the mail server is down for the first N attempts.
Standard library only.
"""
import json
import os
import sys

EX_OK = 0
EX_DATAERR = 65    # the payload can never work: fail for good
EX_TEMPFAIL = 75   # try again later


def error(message):
    # stderr becomes the job's last_error (and the DLQ row's)
    print(message, file=sys.stderr)


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        # A setup mistake, not the job's fault: retry, so that no job is
        # lost while the operator fixes the [exec] line.
        error("usage: send_email.py OUTBOX (an existing directory); "
              "check the task.example.email line of [exec]")
        return EX_TEMPFAIL
    outbox = sys.argv[1]
    job_id = os.environ["BACKFILL_JOB_ID"]
    attempt = int(os.environ["BACKFILL_ATTEMPT"])
    max_attempts = int(os.environ["BACKFILL_MAX_ATTEMPTS"])

    try:
        payload = json.load(sys.stdin)
    except ValueError as e:
        error("payload is not JSON: %s" % e)
        return EX_DATAERR
    to = payload.get("to") if isinstance(payload, dict) else None
    if not isinstance(to, str) or "@" not in to:
        error('payload field "to" must be an e-mail address, got %s'
              % json.dumps(to))
        return EX_DATAERR

    outage = payload.get("simulate_outage_attempts", 0)
    if isinstance(outage, int) and attempt <= outage:
        error("mail server unavailable (simulated), attempt %d of %d"
              % (attempt, max_attempts))
        return EX_TEMPFAIL

    # Write to a temporary name, then rename: a reader of the outbox never
    # sees half a message, and a retry after a crash overwrites it.
    path = os.path.join(outbox, "job-%s.eml" % job_id)
    with open(path + ".tmp", "w") as f:
        f.write("To: %s\n" % to)
        f.write("Subject: %s\n" % payload.get("subject", "(no subject)"))
        f.write("X-Backfill-Job: %s\n" % job_id)
        f.write("X-Backfill-Attempt: %d\n\n" % attempt)
        f.write("%s\n" % payload.get("body", ""))
    os.rename(path + ".tmp", path)
    print("sent to %s on attempt %d: %s" % (to, attempt, path))
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
