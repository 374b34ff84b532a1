# Sourced by the scripts: each checks for exactly what it is about to run and installs it
# where that will be found, saying what it installs and where.
#
# Python tools belong to one interpreter: `$PYTHON`, else the first `python3` on PATH (a
# virtualenv's when one is active). Its scripts directory goes first on PATH, so that a
# command (cfn-lint, sam, cargo-lambda) is the one installed for it and not an older one
# of another Python further down PATH.

py="${PYTHON:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "no $py on PATH: install Python 3.9 or later (Debian: apt-get install python3 python3-pip python3-venv)" >&2
  exit 1
fi
py_scripts="$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
py_user_scripts="$("$py" -c 'import site; print(site.getuserbase() + "/bin")')"
export PATH="$py_scripts:$py_user_scripts:$PATH"
hash -r

# pip_install SPEC…: into the interpreter above (its virtualenv, or its user site when
# the system's Python refuses packages of its own).
pip_install() {
  echo "installing $* for $(command -v "$py") into $("$py" -c 'import sys; print(sys.prefix)')…" >&2
  "$py" -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
    || "$py" -m pip install --quiet --disable-pip-version-check --user "$@" \
    || { echo "could not install $*: run $py -m pip install $*" >&2; return 1; }
  hash -r
}

# need_module 'IMPORTS' SPEC [CONDITION]: the interpreter can import IMPORTS (e.g.
# 'moto.server, werkzeug') and CONDITION holds after it (e.g. a version), installing SPEC
# when not.
need_module() {
  local check="import sys, $1; sys.exit(not (${3:-True}))"
  "$py" -c "$check" 2>/dev/null && return 0
  pip_install "$2"
  "$py" -c "$check" || { echo "$py still cannot import $1 after installing $2" >&2; exit 1; }
}

# need_command NAME SPEC [VERSION_LINE]: the command NAME (at `NAME --version` = VERSION_LINE
# when given), installing SPEC with pip when it is missing or at another version.
need_command() {
  if command -v "$1" >/dev/null 2>&1; then
    [ -z "${3:-}" ] || [ "$("$1" --version 2>/dev/null)" = "$3" ] && return 0
  fi
  pip_install "$2"
  command -v "$1" >/dev/null 2>&1 || { echo "$2 was installed but $1 is not on PATH" >&2; exit 1; }
}
