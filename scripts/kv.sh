# KV access for the operator scripts (sourced after lib.sh, with CALLER_PWD set to the
# directory the script was started from): parses the target flags and defines kv_put_many /
# kv_get over the Workers KV namespace ROUTES (local or remote, via wrangler) or a Spin
# application's key-value store `default` kept in Spin's SQLite file.
#
#   --local (default)    the KV that `scripts/dev` serves (.wrangler/state)
#   --remote             the deployed namespace
#   --spin-sqlite FILE   the SQLite file of a `spin up` default store (a relative FILE is taken
#                        from the directory the script was started in). Safe while `spin up`
#                        runs: every write is one SQLite transaction, which Spin's next read sees.
#   --spin               the same with this app's file: .spin/sqlite_key_value.db beside spin.toml
# Leaves every other argument in the array `args`.
PERSIST="$ROOT/.wrangler/state"
target=(--local --persist-to "$PERSIST"); spin_sqlite=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --local) target=(--local --persist-to "$PERSIST") ;;
    --remote) target=(--remote) ;;
    --spin-sqlite) spin_sqlite=${2:?--spin-sqlite needs a FILE (or use --spin)}; shift ;;
    --spin) spin_sqlite="$ROOT/.spin/sqlite_key_value.db" ;;
    --spin-admin)
      echo "--spin-admin is gone: it spoke the test host's private API, which Spin does not have." >&2
      echo "Publish into a Spin store with --spin or --spin-sqlite FILE (see README, \"Spin\")." >&2
      exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [ -n "$spin_sqlite" ]; then
  case "$spin_sqlite" in /*) ;; *) spin_sqlite="$CALLER_PWD/$spin_sqlite" ;; esac
  command -v python3 >/dev/null || { echo "--spin-sqlite needs python3 (its sqlite3 module)" >&2; exit 1; }
fi

# Spin's schema (crates/key-value-spin in Spin's source); the store column holds the label.
SPIN_KV_PY='
import os, sqlite3, sys
path, op, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
ABSENT = 1  # any other failure exits 2

def main():
    if op == "get" and not os.path.exists(path):
        return ABSENT  # no file yet: the key is absent
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL,"
               " value BLOB NOT NULL, PRIMARY KEY (store, key))")
    if op == "get":
        row = db.execute("SELECT value FROM spin_key_value WHERE store = ? AND key = ?",
                         ("default", rest[0])).fetchone()
        if row is None:
            return ABSENT
        sys.stdout.buffer.write(bytes(row[0]))
        return 0
    pairs = [(rest[i], open(rest[i + 1], "rb").read()) for i in range(0, len(rest), 2)]
    db.execute("BEGIN IMMEDIATE")
    try:
        for key, value in pairs:
            db.execute("INSERT INTO spin_key_value (store, key, value) VALUES (?, ?, ?)"
                       " ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                       ("default", key, value))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return 0

try:
    sys.exit(main())
except Exception as error:
    print(f"kv: {path}: {error}", file=sys.stderr)
    sys.exit(2)
'

spin_kv() { # op args...; exit 1 = absent, anything else non-zero = failed
  local rc=0
  python3 -c "$SPIN_KV_PY" "$spin_sqlite" "$@" || rc=$?
  return "$rc"
}

# Writes every KEY FILE pair given: on Spin in one transaction (all or nothing), on Workers KV
# one key after the other, in order.
kv_put_many() { # key file [key file]...
  if [ -n "$spin_sqlite" ]; then
    spin_kv put "$@"
  else
    while [ $# -ge 2 ]; do
      wrangler kv key put "$1" --path "$2" --binding ROUTES "${target[@]}" >/dev/null
      shift 2
    done
  fi
}
kv_put() { kv_put_many "$1" "$2"; } # key file

# Prints the value of KEY. Exit status: 0 found, 1 absent, 2 the read failed (reason on stderr).
kv_get() { # key
  if [ -n "$spin_sqlite" ]; then
    local rc=0; spin_kv get "$1" || rc=$?
    [ "$rc" -le 1 ] && return "$rc"; return 2
  fi
  local out err rc=0
  err=$(mktemp)
  out=$(wrangler kv key get "$1" --binding ROUTES "${target[@]}" 2>"$err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "kv: wrangler could not read $1:" >&2; cat "$err" >&2; rm -f "$err"
    return 2
  fi
  rm -f "$err"
  [ "$out" = "Value not found" ] && return 1 # wrangler's answer for an absent key (exit 0)
  printf '%s' "$out"
}
