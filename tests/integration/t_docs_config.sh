# Every configuration key the code knows (its --help, generated from the key
# table) is documented in config/backfilld.ini and README.md, and every key
# those documents show exists in the code.
. "$(dirname "$0")/lib.sh"

help=$("$BIN" --help)
# lines like: --poll-interval-ms VALUE   [daemon] poll_interval_ms, env POLL_INTERVAL_MS: ...
keys=$(echo "$help" | sed -n 's/^ *\(--[a-z-]*\) VALUE *\[\([a-z_.]*\)\] \([a-z_]*\), env \([A-Z_-]*\):.*/\2 \3 \4 \1/p')
[ "$(echo "$keys" | wc -l)" -ge 9 ] || bf_fail "could not read the key table from --help: $keys"
ini=$BF_ROOT/config/backfilld.ini
readme=$BF_ROOT/README.md

while read -r section name env flag; do
	# the sample ini has the key, uncommented, under its section
	awk -v s="[$section]" -v k="$name" '
		/^\[/ { cur = $0 } cur == s && $1 == k && $2 == "=" { found = 1 }
		END { exit !found }' "$ini" || bf_fail "key [$section] $name missing from config/backfilld.ini"
	grep -q "\`\[$section\] $name\`" "$readme" || bf_fail "key [$section] $name missing from README's table"
	grep -q "\`$env\`" "$readme" || bf_fail "environment variable $env missing from README"
	grep -q "\`$flag\`" "$readme" || bf_fail "flag $flag missing from README"
done <<< "$keys"

# and the other way round: every key set in the sample ini's built-in sections
awk '/^\[/ { cur = substr($0, 2, length($0) - 2) } /^[a-z_]+ =/ && (cur == "database" || cur == "daemon" || cur == "admin") { print cur, $1 }' "$ini" |
while read -r section name; do
	echo "$keys" | grep -q "^$section $name " || bf_fail "config/backfilld.ini documents [$section] $name, which the code does not know"
done
# every README table row names a known key
grep -o '^| `\[[a-z]*\] [a-z_]*`' "$readme" | sed 's/^| `\[\([a-z]*\)\] \([a-z_]*\)`/\1 \2/' |
while read -r section name; do
	echo "$keys" | grep -q "^$section $name " || bf_fail "README documents [$section] $name, which the code does not know"
done
# the sample config is valid as shipped (plugin sections aside)
"$BIN" -c "$ini" --plugin-dir "$BF_BUILD/plugins" --check-config >/dev/null || bf_fail "config/backfilld.ini is not valid"
echo "docs and config keys agree"
