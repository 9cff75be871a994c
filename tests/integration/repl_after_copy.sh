#!/bin/bash
# SPDX-License-Identifier: MIT
# Single changes right after a full copy of more than 1 MiB (a realistic
# realm of 10,000 principals: about 1.4 MB on the wire) reach the replica.
# The replica's frame inbox used to keep its read offset past the buffer it
# had just freed once a big copy drained: the waiting count wrapped, the
# link paused reading for good and every later batch stayed in the socket
# (2 or 3 of 3 pairs stalled this way until the primary's ack timeout).
# Twice: the pair's first copy, then a copy into an emptied state dir.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up_generated "${AFTER_COPY_N:-10000}"

quick_changes() {
	local i
	for i in $(seq 10); do
		pkq "addprinc -randkey quick-$1-$i"
	done
	"$PAIR" wait "$P" 30 || fail "$1: the replica stopped following after the copy"
	dumps_equal || fail "$1: dumps differ"
}

quick_changes first
"$PAIR" node-stop "$P" replica
rm -rf "${REPLICA_DIR:?}/node/"*
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "no sync after the second copy"
quick_changes second
echo "PASS: ${AFTER_COPY_N:-10000} principals: changes right after each full copy arrived"
