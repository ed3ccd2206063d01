#!/bin/sh
# archive.sh INBOX ARCHIVE -- an exec task handler in shell: moves the file
# the job's payload names, {"file": "report.csv"}, from INBOX to ARCHIVE.
#
# Exit status, as backfilld's exec plugin reads it:
#   0    done
#   75   the file is not there yet: retry later (the daemon's backoff), until
#        the job's max_attempts are used up, then the job is dead-lettered
#   65   a name that can never work (a path, a dot file): dead letter at once
# Whatever goes to stderr becomes the job's error message.
set -u

if [ $# -ne 2 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
	# a setup mistake, not the job's fault: retry until someone fixes [exec]
	echo "usage: archive.sh INBOX ARCHIVE (two existing directories)" >&2
	exit 75
fi
inbox=$1 archive=$2

# The payload is jsonb text from PostgreSQL ({"file": "report.csv"}).  sed
# is enough for one flat string field; use jq or a real language for more.
payload=$(cat)
file=$(printf '%s\n' "$payload" | sed -n 's/.*"file": *"\([^"\\]*\)".*/\1/p')
case $file in
'')
	echo "payload has no plain \"file\" string: $payload" >&2
	exit 65 ;;
*/* | .*)
	echo "refusing file name \"$file\": a plain name inside the inbox is expected" >&2
	exit 65 ;;
esac

if [ ! -f "$inbox/$file" ]; then
	echo "$file is not in the inbox yet (attempt $BACKFILL_ATTEMPT of $BACKFILL_MAX_ATTEMPTS)" >&2
	exit 75
fi
mv "$inbox/$file" "$archive/$file" || exit 75
echo "archived $file on attempt $BACKFILL_ATTEMPT (job $BACKFILL_JOB_ID)"
exit 0
