#!/usr/bin/env bash
# Runs the orchestrator on port 8888 (waitress, through portal/serve.py: see docs/server.md) against
# the upstreams configured in the environment or .env. With --demo, first starts the sandbox (stand-ins of the three
# microservices with seeded data) and points the orchestrator at it. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PY:-.venv/bin/python}
PORT=${PORT:-8888}
HOST=${HOST:-127.0.0.1}
DEMO=0
[[ "${1:-}" == "--demo" ]] && DEMO=1

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_for_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then
      return 0
    fi
    sleep 0.1
  done
  echo "El puerto $port no respondió" >&2
  return 1
}

if [[ $DEMO == 1 ]]; then
  export JWT_SECRET=${JWT_SECRET:-sandbox-dev-secret-change-me-0123456789abcdef}
  export URL_USUARIOS_COMPRAS=http://127.0.0.1:8081
  export URL_PRODUCTOS_OFERTAS=http://127.0.0.1:8082
  export URL_RECETAS_MEDICOS=http://127.0.0.1:8083
  export SECRET_KEY=${SECRET_KEY:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')}
  export DEBUG=${DEBUG:-False}
  # The demo is served over plain http on localhost.
  export SESSION_COOKIE_SECURE=False CSRF_COOKIE_SECURE=False
  export CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-http://localhost:*,http://127.0.0.1:*}
  export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1}
  # The sandbox starts from its seed every time, so the demo's purchase journal starts empty too
  # (old entries would give stock back into fresh data); reconcile signs in as the demo ADMIN.
  if [[ -z "${PURCHASE_JOURNAL:-}" ]]; then
    export PURCHASE_JOURNAL=var/demo/diario-compras.jsonl
    rm -f "$PURCHASE_JOURNAL"
  fi
  eval "$("$PY" -c "import shlex; from sandbox import DEMO_LOGINS
admin = next(u for u in DEMO_LOGINS if u['rol'] == 'ADMIN')
print('export RECONCILE_ADMIN_DNI=' + shlex.quote(admin['dni']) + ' RECONCILE_ADMIN_PASSWORD=' + shlex.quote(admin['password']))")"
  # The sandbox prints its own banner; ours below says the same once, after the orchestrator is up.
  "$PY" manage.py sandbox --quiet > /dev/null &
  pids+=($!)
  wait_for_port 8081 && wait_for_port 8082 && wait_for_port 8083
fi

# Attempts resolved more than PURCHASE_JOURNAL_KEEP_DAYS ago leave the purchase journal (safe while
# serving too: run `manage.py compact_journal` daily on a server that runs for weeks).
"$PY" manage.py compact_journal | sed 's/^/  /' || echo "  No se pudo compactar el diario de compras."
# Several workers over a process-local cache would each keep their own stock locks: refuse.
"$PY" -m portal.scaleout
"$PY" manage.py collectstatic --noinput -v 0
"$PY" -m portal.serve --bind "$HOST:$PORT" &
pids+=($!)
wait_for_port "$PORT"

cat <<MSG

  Botica orquestador en http://localhost:$PORT
    API:        http://localhost:$PORT/api/orchestrator/health
    Dashboard:  http://localhost:$PORT/
    Métricas:   http://localhost:$PORT/metrics
MSG
if [[ $DEMO == 1 ]]; then
  "$PY" -c "from sandbox import DEMO_LOGINS
print('  Usuarios de demostración:')
for u in DEMO_LOGINS:
    print(f\"    {u['rol']:<8} DNI {u['dni']}  {u['email']:<28} contraseña {u['password']}\")"
fi
# Purchases a crash left open are resolved before anyone relies on the stock (needs an ADMIN
# account: RECONCILE_ADMIN_DNI / RECONCILE_ADMIN_PASSWORD). What it cannot resolve stays listed
# on /operaciones; the server keeps running either way.
if [[ -n "${RECONCILE_ADMIN_DNI:-}" ]]; then
  "$PY" manage.py reconcile --no-input | sed 's/^/  /' \
    || echo "  Hay compras sin resolver: vea /operaciones o ejecute python manage.py reconcile"
fi
echo "  Ctrl-C para detener."
wait -n "${pids[@]}"
