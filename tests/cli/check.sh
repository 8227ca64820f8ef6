# Shared by the CLI test scripts (sourced; needs $scratch): named checks with a PASS/FAIL
# line each and the failing command's output, and the summary that sets the exit status.

passed=0
failed=0

# check NAME COMMAND...: runs COMMAND, counts it, shows its output when it fails.
check() {
    local name=$1
    shift
    if "$@" >"$scratch/log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS: $name"
    else
        failed=$((failed + 1))
        echo "FAIL: $name"
        sed 's/^/    /' "$scratch/log"
    fi
}

# expect_status WANT PATTERN COMMAND...: COMMAND exits with WANT and its stderr matches
# PATTERN (grep); stdout goes to $scratch/out.txt, stderr to $scratch/err.txt.
expect_status() {
    local want=$1 pattern=$2
    shift 2
    local got=0
    "$@" >"$scratch/out.txt" 2>"$scratch/err.txt" || got=$?
    if [ "$got" -ne "$want" ]; then
        echo "exit status $got, expected $want"
        cat "$scratch/err.txt"
        return 1
    fi
    grep -q -- "$pattern" "$scratch/err.txt" || {
        echo "stderr does not match '$pattern':"
        cat "$scratch/err.txt"
        return 1
    }
}

# finish: the summary line; the script's exit status is non-zero when a check failed.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
