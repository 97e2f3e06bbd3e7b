# Sourced by the scripts that start local servers in the background (make
# demo, make bench): each server's pid goes into pids, and every one is
# killed when the script exits; port_of reads the port a server wrote to
# its --port-file.
pids=()
kill_servers() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap kill_servers EXIT

# port_of FILE: the port in FILE once the server has written it (at most
# 5 s); nothing printed and status 1 if it never comes
port_of() {
    local _
    for _ in $(seq 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        sleep 0.05
    done
    return 1
}
