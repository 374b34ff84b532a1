# Sourced by the Makefile's scripts: exports dev.env's variables that the caller has not
# set, and makes the SQLite path absolute so every process finds the same file.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
while IFS= read -r _line || [ -n "$_line" ]; do
  case "$_line" in ''|'#'*) continue ;; esac
  _key="${_line%%=*}"
  [ -z "${!_key+x}" ] && export "$_key=${_line#*=}"
done < "$_root/dev.env"
case "$WIIZO_SQLITE_PATH" in /*) ;; *) export WIIZO_SQLITE_PATH="$_root/$WIIZO_SQLITE_PATH" ;; esac
unset _root _line _key
