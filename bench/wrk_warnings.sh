# Sourced by bench/*.sh. wrk prints "Non-2xx" and "Socket errors" lines only when something
# went wrong (read errors: the server closed connections, i.e. no keep-alive); a clean run has
# none. Prints a warning for each run file in $1 that has them.
warn_wrk_errors() {
  local f
  for f in "$1"/*-[0-9]*.txt; do
    if grep -qE 'Non-2xx|Socket errors' "$f"; then
      echo
      echo "Warning: $(basename "$f" .txt): $(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' ' | paste -sd';')"
    fi
  done
}
