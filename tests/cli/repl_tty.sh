#!/usr/bin/env bash
# The REPL on a terminal (tmux): libedit line editing and history, Ctrl-C stopping
# running code and clearing the prompt's line without leaving, Ctrl-D leaving with 0.
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "skipped: no tmux"; exit 0; }

session=lutra-test-$$
sock="$SCRATCH/tmux.sock"
t() { tmux -S "$sock" "$@"; }
t new-session -d -s "$session" -x 120 -y 30 \
    "HOME='$SCRATCH' '$PWD/$LUTRA'; echo EXIT=\$?; sleep 30" || fail "tmux did not start"
trap 't kill-server 2>/dev/null; rm -rf "$SCRATCH"' EXIT
send() { t send-keys -t "$session" "$@"; sleep 0.4; }
# the prompt first (a loaded machine starts slower than a fixed pause allows)
for _ in $(seq 50); do
    t capture-pane -p -t "$session" | grep -q '> *$' && break
    sleep 0.2
done
send '6 * 7' Enter
send 'while true do end' Enter
sleep 0.6
send C-c
send '"still here"' Enter
send 'half typed' C-c
send Up Enter
send C-d
sleep 0.5
t capture-pane -p -t "$session" >"$SCRATCH/screen"
has "$SCRATCH/screen" "42"
has "$SCRATCH/screen" "error: interrupted!"
[ "$(grep -c '^still here' "$SCRATCH/screen")" -eq 2 ] || { cat "$SCRATCH/screen"; fail "history"; }
has "$SCRATCH/screen" "EXIT=0"
has "$SCRATCH/.lutra_history" "6\\040*\\0407"
exit 0
