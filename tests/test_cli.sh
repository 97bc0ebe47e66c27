#!/bin/sh
# End-to-end tests of the qstack command against real modules and a
# queue in a temporary folder. Run from the top of the repository, with
# QSTACK_BUILD set to the build folder (tests/run-tests.sh sets it).
# Prints one line per check and ends with "N passed, N failed".
set -u

top=$(pwd)
build=${QSTACK_BUILD:-$top/build}
qstack=$build/qstack
passed=0
failed=0

umask 077
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' 0
trap 'exit 1' INT TERM

pass() {
	passed=$((passed + 1))
	echo "ok   $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL $1"
}

# expect NAME COMMAND...: passes when COMMAND succeeds.
expect() {
	name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# Runs qstack with the test configuration; stdout and stderr go to
# $tmp/out and $tmp/err, the exit status to $rc.
conf=$tmp/qstack.conf
run() {
	"$qstack" -c "$conf" "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
}

# Same, with stdin from the file named by $1.
run_stdin() {
	input=$1
	shift
	"$qstack" -c "$conf" "$@" < "$input" > "$tmp/out" 2> "$tmp/err"
	rc=$?
}

lines() {
	wc -l < "$1" | tr -d ' '
}

one_error_line() {
	[ "$(lines "$tmp/err")" -eq 1 ] && grep -q '^qstack: ' "$tmp/err"
}

# json_check FILE PYTHON: runs PYTHON with `rows`, the JSON objects of
# FILE (one per line), and passes when it raises nothing.
json_check() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
exec(sys.argv[2])
EOF
}

if [ ! -x "$qstack" ]; then
	echo "qstack not found at $qstack; run make first"
	echo "0 passed, 1 failed"
	exit 1
fi

cat > "$conf" <<EOF
# test queue: compressed with zlib and encrypted
queue backend fs path "$tmp/q"
queue compression
queue encryption key "foobar"
EOF

# --- usage ---------------------------------------------------------------

"$qstack" --help > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "help exit status 0" [ "$rc" -eq 0 ]
expect "help prints usage" grep -q '^usage: qstack' "$tmp/out"
expect "help lists put" grep -q ' put ' "$tmp/out"
expect "help is quiet on stderr" [ ! -s "$tmp/err" ]

"$qstack" help > "$tmp/out" 2> "$tmp/err"
expect "help command prints usage" grep -q '^usage: qstack' "$tmp/out"

run frobnicate
expect "unknown command exit 2" [ "$rc" -eq 2 ]
expect "unknown command one line" one_error_line
expect "unknown command named" grep -q "frobnicate" "$tmp/err"
expect "unknown command help hint" grep -q "see qstack --help" "$tmp/err"

"$qstack" -z ls > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "unknown option exit 2" [ "$rc" -eq 2 ]
expect "unknown option one line" one_error_line
expect "unknown option named" grep -q -- "-z" "$tmp/err"

run put -x /dev/null
expect "unknown put option exit 2" [ "$rc" -eq 2 ]
expect "unknown put option named" grep -q -- "-x.*see qstack --help" \
    "$tmp/err"

"$qstack" > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "missing command exit 2" [ "$rc" -eq 2 ]

# --- check and configuration files ---------------------------------------

run check
expect "check valid exit 0" [ "$rc" -eq 0 ]
expect "check valid message" grep -q "^configuration $conf is valid\$" \
    "$tmp/out"

bad=$tmp/bad.conf
printf 'queue backend fs path "%s/q"\nqueue frobnicate on\n' "$tmp" > "$bad"
"$qstack" -c "$bad" check > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "check invalid fails" [ "$rc" -ne 0 ]
expect "check invalid one line" one_error_line
expect "check invalid names file" grep -q "$bad" "$tmp/err"
expect "check invalid names line" grep -q "$bad:2" "$tmp/err"
expect "check invalid prints nothing" [ ! -s "$tmp/out" ]

"$qstack" -c "$tmp/missing.conf" ls > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "missing config fails" [ "$rc" -ne 0 ]
expect "missing config one line" one_error_line
expect "missing config named" grep -q "$tmp/missing.conf" "$tmp/err"

QSTACK_CONF=$conf "$qstack" check > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "QSTACK_CONF used" [ "$rc" -eq 0 ]
expect "QSTACK_CONF file named" grep -q "$conf is valid" "$tmp/out"

QSTACK_CONF=$tmp/missing.conf "$qstack" -c "$conf" check \
    > "$tmp/out" 2> "$tmp/err"
rc=$?
expect "-c overrides QSTACK_CONF" [ "$rc" -eq 0 ]

# --- plugins -------------------------------------------------------------

run plugins
expect "plugins exit 0" [ "$rc" -eq 0 ]
expect "plugins lists zlib" grep -q '^zlib  *compress  *1\.[0-9]' "$tmp/out"
expect "plugins lists lz4" grep -q '^lz4  *compress  *1\.[0-9]' "$tmp/out"
expect "plugins lists evp" grep -q '^evp  *crypto  *1\.[0-9]' "$tmp/out"
expect "plugins lists fs" grep -q '^fs  *queue  *1\.[0-9]' "$tmp/out"
expect "plugins reports no error" sh -c "! grep -q 'error:' '$tmp/out'"

# --- put, get ------------------------------------------------------------

unique="qstack-test-plaintext-$$-7f3a9c"
msg1=$tmp/msg1
{
	echo "Subject: first"
	echo
	echo "$unique"
	i=0
	while [ $i -lt 200 ]; do
		echo "line $i of the first message"
		i=$((i + 1))
	done
} > "$msg1"
size1=$(wc -c < "$msg1" | tr -d ' ')

run put -f sender@example.org -r one@example.org \
    -r rcpt-unique-$$@example.net "$msg1"
id1=$(cat "$tmp/out")
expect "put file exit 0" [ "$rc" -eq 0 ]
expect "put file prints id" sh -c "echo '$id1' | grep -qx '[0-9a-f.]\{1,63\}'"
expect "put file quiet on stderr" [ ! -s "$tmp/err" ]

msg2=$tmp/msg2
printf 'Subject: second\n\nfrom standard input, no final newline' > "$msg2"
run_stdin "$msg2" put -f "" -r two@example.org -r three@example.org
id2=$(cat "$tmp/out")
expect "put stdin exit 0" [ "$rc" -eq 0 ]
expect "put stdin prints id" [ -n "$id2" ]
expect "put ids differ" [ "$id1" != "$id2" ]

run_stdin /dev/null put
id3=$(cat "$tmp/out")
expect "put empty message exit 0" [ "$rc" -eq 0 ]

run get "$id1"
expect "get file exit 0" [ "$rc" -eq 0 ]
expect "get file byte-identical" cmp -s "$tmp/out" "$msg1"
run get "$id2"
expect "get stdin byte-identical" cmp -s "$tmp/out" "$msg2"
run get "$id3"
expect "get empty message exit 0" [ "$rc" -eq 0 ]
expect "get empty message is empty" [ ! -s "$tmp/out" ]

expect "queue has blobs" [ "$(find "$tmp/q" -type f | wc -l)" -gt 3 ]
expect "plaintext not in queue" sh -c "! grep -r -q '$unique' '$tmp/q'"
expect "recipient not in queue" \
    sh -c "! grep -r -q 'rcpt-unique-$$' '$tmp/q'"

run put -r "$(printf 'bad\nrcpt@example.org')" "$msg1"
expect "newline in recipient rejected" [ "$rc" -ne 0 ]
expect "newline rejection one line" one_error_line
expect "newline rejection explains" grep -q "line break" "$tmp/err"

run put -f "$(printf 'bad\001sender')" -r ok@example.org "$msg1"
expect "control char in sender rejected" [ "$rc" -ne 0 ]
expect "control char rejection one line" one_error_line

run put -f lonely@example.org "$msg1"
expect "put -f without -r rejected" [ "$rc" -ne 0 ]

run put -r ok@example.org "$tmp/no-such-file"
expect "put missing file fails" [ "$rc" -ne 0 ]
expect "put missing file named" grep -q "no-such-file" "$tmp/err"

# --- ls ------------------------------------------------------------------

run ls
expect "ls exit 0" [ "$rc" -eq 0 ]
expect "ls one line per message" [ "$(lines "$tmp/out")" -eq 3 ]
expect "ls sorted by id" sh -c "cut -d' ' -f1 '$tmp/out' | sort -c"
line1=$(grep "^$id1 " "$tmp/out")
expect "ls size of message" [ "$(echo "$line1" | cut -d' ' -f2)" = "$size1" ]
stored1=$(echo "$line1" | cut -d' ' -f3)
expect "ls stored size is a number" sh -c "echo '$stored1' | grep -qx '[0-9]\+'"
expect "ls two envelopes" [ "$(echo "$line1" | wc -w | tr -d ' ')" -eq 7 ]
expect "ls envelope recipient" \
    sh -c "echo '$line1' | grep -q ' one@example.org'"
expect "ls envelope id of message" \
    sh -c "echo '$line1' | cut -d' ' -f4 | grep -q '^$id1'"
expect "ls no envelope size dash" grep -q "^$id3 - [0-9][0-9]*\$" "$tmp/out"

run ls --json
expect "ls --json exit 0" [ "$rc" -eq 0 ]
expect "ls --json one line per message" [ "$(lines "$tmp/out")" -eq 3 ]
cp "$tmp/out" "$tmp/ls.json"
expect "ls --json message fields" json_check "$tmp/ls.json" "
m = {r['id']: r for r in rows}
assert m['$id1']['size'] == $size1
assert m['$id1']['stored_size'] == $stored1
assert m['$id3']['size'] is None
assert m['$id3']['envelopes'] == []
"
expect "ls --json envelopes" json_check "$tmp/ls.json" "
m = {r['id']: r for r in rows}
envs = m['$id1']['envelopes']
assert len(envs) == 2
assert sorted(e['recipient'] for e in envs) == \
    ['one@example.org', 'rcpt-unique-$$@example.net']
assert all(e['sender'] == 'sender@example.org' for e in envs)
assert all(e['id'].startswith('$id1') for e in envs)
"
expect "ls --json null sender" json_check "$tmp/ls.json" "
m = {r['id']: r for r in rows}
assert [e['sender'] for e in m['$id2']['envelopes']] == ['', '']
"

# Escaping: quote, backslash, valid UTF-8, and a byte that is not UTF-8.
run_stdin "$msg2" put -r 'q"b\s@example.org' -r "$(printf 'j\303\251@x.org')" \
    -r "$(printf 'z\377@x.org')"
id4=$(cat "$tmp/out")
run ls --json
expect "ls --json escapes strings" json_check "$tmp/out" "
m = {r['id']: r for r in rows}
got = sorted(e['recipient'] for e in m['$id4']['envelopes'])
assert got == sorted(['q\"b\\\\s@example.org', 'j\u00e9@x.org',
    'z\ufffd@x.org']), got
"
expect "ls --json keeps UTF-8 bytes" grep -q "$(printf 'j\303\251@x.org')" \
    "$tmp/out"
run rm "$id4"

# --- rm ------------------------------------------------------------------

run rm "$id2"
expect "rm exit 0" [ "$rc" -eq 0 ]
run get "$id2"
expect "get after rm fails" [ "$rc" -ne 0 ]
expect "get after rm one line" one_error_line
expect "get after rm names id" grep -q "$id2" "$tmp/err"
run rm "$id2"
expect "rm unknown id exit 1" [ "$rc" -eq 1 ]
expect "rm unknown id names id" grep -q "$id2.*not found" "$tmp/err"
run ls
expect "ls after rm" [ "$(lines "$tmp/out")" -eq 2 ]

run get "../etc/passwd"
expect "bad id fails" [ "$rc" -ne 0 ]
expect "bad id one line" one_error_line
expect "bad id named" grep -q "invalid message id" "$tmp/err"
run get
expect "get without id exit 2" [ "$rc" -eq 2 ]

# --- write errors on standard output -------------------------------------

if [ -w /dev/full ]; then
	"$qstack" -c "$conf" get "$id1" > /dev/full 2> "$tmp/err"
	rc=$?
	expect "get to full device fails" [ "$rc" -ne 0 ]
	expect "get to full device one line" one_error_line
	"$qstack" -c "$conf" ls > /dev/full 2> "$tmp/err"
	rc=$?
	expect "ls to full device fails" [ "$rc" -ne 0 ]
fi

big=$tmp/big
i=0
while [ $i -lt 20 ]; do
	cat "$msg1" "$msg1" "$msg1" "$msg1" "$msg1"
	i=$((i + 1))
done > "$big.part"
cat "$big.part" "$big.part" "$big.part" "$big.part" > "$big"
run put "$big"
idbig=$(cat "$tmp/out")
run get "$idbig"
expect "get large message" cmp -s "$tmp/out" "$big"
{ "$qstack" -c "$conf" get "$idbig" 2> "$tmp/err"; echo $? > "$tmp/rc"; } \
    | head -c 10 > /dev/null
expect "get to closed pipe fails" [ "$(cat "$tmp/rc")" -ne 0 ]
expect "get to closed pipe one line" one_error_line

# --- export --------------------------------------------------------------

run ls
ids=$(cut -d' ' -f1 "$tmp/out")
count=$(lines "$tmp/out")
run export "$tmp/out-dir"
expect "export exit 0" [ "$rc" -eq 0 ]
bytes=$((size1 + $(wc -c < "$big")))
expect "export summary" grep -qx "exported $count messages, $bytes bytes" \
    "$tmp/out"
expect "export folder mode 0700" [ "$(stat -c %a "$tmp/out-dir")" = 700 ]
expect "export one file per message" \
    [ "$(ls -A "$tmp/out-dir" | wc -l | tr -d ' ')" -eq "$count" ]
all_same=true
for id in $ids; do
	"$qstack" -c "$conf" get "$id" > "$tmp/one" 2> /dev/null ||
	    all_same=false
	cmp -s "$tmp/one" "$tmp/out-dir/$id" || all_same=false
done
expect "export files byte-identical" $all_same
expect "export file 1 matches source" cmp -s "$tmp/out-dir/$id1" "$msg1"

# --- import --------------------------------------------------------------

conf_main=$conf
conf=$tmp/import.conf
cat > "$conf" <<EOF
queue backend fs path "$tmp/q-import"
queue compression lz4
queue encryption key "foobar"
EOF

md=$tmp/maildir
mkdir -p "$md/cur" "$md/new" "$md/tmp"
printf '%s\r\n' 'Return-Path: <ret@example.org>' \
    'Delivered-To: dt@example.net' 'From: Someone <from1@example.org>' \
    'To: to1@example.net' '' 'body 1' > "$md/new/1000.a.host"
cat > "$md/cur/1001.b.host:2,S" <<'EOF2'
From: "Doe, Jane" <jane@example.org>
To: (team)
 bob@example.net, other@example.net
Subject: x

body 2
EOF2
printf 'Subject: no addresses\n\nbody 3\n' > "$md/cur/1002.c.host:2,"
printf 'in tmp, not delivered\n' > "$md/tmp/1003.d.host"
md_bytes=$(cat "$md/new/"* "$md/cur/"* | wc -c | tr -d ' ')

run import "$md"
expect "import maildir exit 0" [ "$rc" -eq 0 ]
expect "import maildir summary" \
    grep -qx "imported 3 messages, $md_bytes bytes" "$tmp/out"
expect "import quiet on stderr" [ ! -s "$tmp/err" ]
run ls --json
cp "$tmp/out" "$tmp/import.json"
expect "import maildir envelopes" json_check "$tmp/import.json" "
pairs = sorted((e['sender'], e['recipient'])
    for r in rows for e in r['envelopes'])
assert pairs == [('jane@example.org', 'bob@example.net'),
    ('ret@example.org', 'dt@example.net')], pairs
assert sum(1 for r in rows if r['envelopes'] == []) == 1
assert len(rows) == 3
"

run export "$tmp/md-out"
for f in "$md/new/"* "$md/cur/"*; do
	found=false
	for g in "$tmp/md-out/"*; do
		cmp -s "$f" "$g" && found=true
	done
	expect "import maildir kept $(basename "$f")" $found
done

plain=$tmp/plain
mkdir -p "$plain/sub"
printf 'To: a@example.org\n\nplain a\n' > "$plain/a"
printf 'plain b, no headers\n' > "$plain/b"
printf 'hidden\n' > "$plain/.hidden"
printf 'in a subfolder\n' > "$plain/sub/c"
ln -s "$plain/a" "$plain/link"
run import -f over@example.org -r forced@example.org "$plain"
expect "import plain dir exit 0" [ "$rc" -eq 0 ]
expect "import plain dir summary" \
    grep -qx "imported 2 messages, $(cat "$plain/a" "$plain/b" | wc -c |
    tr -d ' ') bytes" "$tmp/out"
run ls --json
expect "import -f -r override headers" json_check "$tmp/out" "
new = [r for r in rows if any(e['recipient'] == 'forced@example.org'
    for e in r['envelopes'])]
assert len(new) == 2
assert all(len(r['envelopes']) == 1 for r in new)
assert all(r['envelopes'][0]['sender'] == 'over@example.org' for r in new)
"

# Header forms: null Return-Path, groups, comments, folding, mbox line.
hdr=$tmp/headers
mkdir "$hdr"
cat > "$hdr/1" <<'EOF2'
From MAILER-DAEMON Thu Jan  1 00:00:00 2024
Return-Path: <>
To: undisclosed-recipients:;
Delivered-To: bounce@example.net
Subject: null sender

body
EOF2
cat > "$hdr/2" <<'EOF2'
Subject: group
From: plain@example.org (Plain Person)
To: team: first@example.net, second@example.net;

body
EOF2
cat > "$hdr/3" <<'EOF2'
Subject: no recipient
From: lonely@example.org
To: undisclosed-recipients:;

To: body-is-not-a-header@example.net
EOF2
conf=$tmp/headers.conf
printf 'queue backend fs path "%s/q-headers"
' "$tmp" > "$conf"
run import "$hdr"
expect "import header forms exit 0" [ "$rc" -eq 0 ]
run ls --json
expect "import header forms envelopes" json_check "$tmp/out" "
pairs = sorted((e['sender'], e['recipient'])
    for r in rows for e in r['envelopes'])
assert pairs == [('', 'bounce@example.net'),
    ('plain@example.org', 'first@example.net')], pairs
assert len(rows) == 3
"
conf=$tmp/import.conf

run import "$tmp/no-such-dir"
expect "import missing dir fails" [ "$rc" -ne 0 ]
expect "import missing dir one line" one_error_line

mkdir "$tmp/unreadable"
printf 'x\n' > "$tmp/unreadable/a"
chmod 000 "$tmp/unreadable/a"
if [ ! -r "$tmp/unreadable/a" ]; then
	run import "$tmp/unreadable"
	expect "import unreadable file fails" [ "$rc" -eq 1 ]
	expect "import unreadable names file" grep -q "unreadable/a" "$tmp/err"
fi
chmod 600 "$tmp/unreadable/a"

# --- verification failures -----------------------------------------------

conf=$conf_main
run ls
cp "$tmp/out" "$tmp/ls-before-tamper"

# The largest file under the message's id is its message blob.
blob=$(find "$tmp/q" -type f -path "*$idbig*" -exec ls -S {} + | head -n 1)
expect "tamper target found" [ -n "$blob" ]
if [ -n "$blob" ]; then
	python3 - "$blob" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    middle = len(f.read()) // 2
    f.seek(middle)
    b = f.read(1)
    f.seek(middle)
    f.write(bytes([b[0] ^ 0x01]))
EOF
	run get "$idbig"
	expect "get tampered fails" [ "$rc" -eq 1 ]
	expect "get tampered one line" one_error_line
	expect "get tampered names id" grep -q "$idbig" "$tmp/err"

	run export "$tmp/out-bad"
	expect "export tampered exit 1" [ "$rc" -eq 1 ]
	expect "export tampered names id" grep -q "$idbig" "$tmp/err"
	expect "export tampered keeps others" cmp -s "$tmp/out-bad/$id1" "$msg1"
	expect "export tampered no file" [ ! -e "$tmp/out-bad/$idbig" ]
	expect "export leaves no temp file" \
	    [ -z "$(ls -A "$tmp/out-bad" | grep '^\.')" ]
fi

# An envelope blob that was modified: ls reports it and lists the rest.
evp=$(grep "^$id1 " "$tmp/ls-before-tamper" | cut -d' ' -f4)
expect "envelope id of message 1" [ -n "$evp" ]
evpblob=$(find "$tmp/q" -type f -name "*${evp:-none}*" | head -n 1)
expect "envelope blob found" [ -n "$evpblob" ]
if [ -n "$evpblob" ]; then
	printf 'X' >> "$evpblob"
	run ls
	expect "ls bad envelope exit 1" [ "$rc" -eq 1 ]
	expect "ls bad envelope one line" one_error_line
	expect "ls bad envelope names it" grep -q "$evp" "$tmp/err"
	expect "ls bad envelope listed" \
	    grep -q "^$id1 $size1 [0-9]* $evp ? " "$tmp/out"
	expect "ls bad envelope others" grep -q "^$id3 " "$tmp/out"
fi

# --- configurations from the design --------------------------------------

# The two statements below must work as written. Alone they select the
# fs backend at /var/spool/qstack, which a test must not touch, so a
# backend line pointing into the test folder is added.
conf=$tmp/design.conf
cat > "$conf" <<EOF
queue backend fs path "$tmp/q-design"
queue compression
queue encryption key "foobar"
EOF
run_stdin "$msg1" put -r a@example.org
idd=$(cat "$tmp/out")
run get "$idd"
expect "two-line config round trip" cmp -s "$tmp/out" "$msg1"

conf=$tmp/cbc.conf
cat > "$conf" <<EOF
queue backend fs path "$tmp/q-cbc"
queue encryption key "foobar" cipher aes-128-cbc digest sha512
EOF
run_stdin "$msg1" put -r a@example.org
idc=$(cat "$tmp/out")
run get "$idc"
expect "cbc config round trip" cmp -s "$tmp/out" "$msg1"
expect "cbc plaintext not in queue" \
    sh -c "! grep -r -q '$unique' '$tmp/q-cbc'"

run ls
expect "ls of other queue" [ "$(lines "$tmp/out")" -eq 1 ]

# --- key on standard input ------------------------------------------------

# With the key on standard input, a message read from there too became
# the passphrase and an empty message was stored.
conf=$tmp/stdin.conf
cat > "$conf" <<EOF
queue backend fs path "$tmp/q-stdin"
queue encryption key -
EOF
printf 'stdin passphrase\n' > "$tmp/pass"
run_stdin "$tmp/pass" put -r a@example.org
expect "put with key on stdin and no file exits 2" [ "$rc" -eq 2 ]
expect "put with key on stdin one line" one_error_line
expect "put with key on stdin names the fix" grep -q "give put a FILE" \
    "$tmp/err"
run_stdin "$tmp/pass" put -r a@example.org "$msg1"
expect "put with key on stdin and a file" [ "$rc" -eq 0 ]
ids=$(cat "$tmp/out")
run_stdin "$tmp/pass" get "$ids"
expect "get with key on stdin" cmp -s "$tmp/out" "$msg1"

# --- put cannot report its id ----------------------------------------------

conf=$conf_main
if [ -w /dev/full ]; then
	before=$("$qstack" -c "$conf" ls | wc -l)
	"$qstack" -c "$conf" put -r a@example.org "$msg1" > /dev/full \
	    2> "$tmp/err"
	rc=$?
	after=$("$qstack" -c "$conf" ls | wc -l)
	expect "put to full device fails" [ "$rc" -ne 0 ]
	expect "put to full device one line" one_error_line
	expect "put to full device keeps nothing" [ "$before" -eq "$after" ]
fi

# --- check with a wrong passphrase -------------------------------------------

# A wrong passphrase opens a queue like the right one, so check also
# reads a few stored messages.
conf=$tmp/wrong.conf
cat > "$conf" <<EOF
queue backend fs path "$tmp/q-design"
queue compression
queue encryption key "not foobar"
EOF
run check
expect "check with wrong passphrase fails" [ "$rc" -eq 1 ]
expect "check with wrong passphrase one line" one_error_line
expect "check with wrong passphrase names key id" \
    grep -q "key id [0-9a-f]\{16\}" "$tmp/err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
