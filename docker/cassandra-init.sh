#!/bin/sh
# Once Cassandra (with PasswordAuthenticator) is up: the role the project's clients use, with the password
# of the topk-secrets volume, and a new password for the default superuser (cassandra/cassandra is public).
# Passwords go to cqlsh in files (printf is a shell builtin: no process shows them). Run again, it finds
# the default login refused and leaves everything as it is.
set -eu
secrets=/run/topk-secrets
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[authentication]\ncredentials = %s/credentials\n' "$work" >"$work/cqlshrc"
printf '[PlainTextAuthProvider]\nusername = cassandra\npassword = %s\n' "$(cat "$secrets/cassandra_admin_password")" \
  >"$work/credentials"
printf "CREATE ROLE IF NOT EXISTS topk WITH PASSWORD = '%s' AND LOGIN = true AND SUPERUSER = true;\n" \
  "$(cat "$secrets/cassandra_password")" >"$work/roles.cql"
printf "ALTER ROLE cassandra WITH PASSWORD = '%s';\n" "$(cat "$secrets/cassandra_admin_password")" >>"$work/roles.cql"
until cqlsh --cqlshrc="$work/cqlshrc" cassandra 9042 -e 'SELECT now() FROM system.local' >/dev/null 2>&1; do
  if cqlsh -u cassandra -p cassandra cassandra 9042 -f "$work/roles.cql"; then echo "roles set"; fi
  sleep 5
done
echo "cassandra: role topk ready"
