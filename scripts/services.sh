#!/usr/bin/env bash
# Local services without Docker: Apache Kafka (KRaft, jars from Maven Central), Debian's
# clickhouse-server, Apicurio Registry (Maven Central; Confluent-compatible API), and an OAuth 2.0
# authorization server for Kafka's OAUTHBEARER listener (Spring Authorization Server, built once from
# services/oauth with Maven), each with its state in a project-owned ignored folder (.services/).
#
#   scripts/services.sh up     [oauth|kafka|clickhouse|registry|all]   start what is not running, wait until it answers
#   scripts/services.sh down   [oauth|kafka|clickhouse|registry|all]   stop only what `up` started (pid files)
#   scripts/services.sh status [oauth|kafka|clickhouse|registry|all]
#   scripts/services.sh reset  [oauth|kafka|clickhouse|registry|all]   stop, then delete the data (topics, tables);
#                                                                      keeps the downloaded jars
#   scripts/services.sh env                                      print the environment the tests and the CLI read
#   scripts/services.sh kafka-tool CLASS [ARGS...]                run a class of Kafka's own jars (e.g. the Java
#                                                                console producer), fetching the jars once
#
# Ports: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_SASL_PORT (9094), KAFKA_SASL_SSL_PORT (9095),
# KAFKA_SSL_PORT (9096), KAFKA_OAUTH_PORT (9097), CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_HTTPS_PORT (8443),
# CLICKHOUSE_TCP_PORT (9000), REGISTRY_PORT (8081), OAUTH_PORT (9100). State folder: SERVICES_DIR
# (default <repo>/.services).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${SERVICES_DIR:-$ROOT/.services}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-9094}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-9095}"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-9096}"
KAFKA_OAUTH_PORT="${KAFKA_OAUTH_PORT:-9097}"
CH_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CH_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
CH_HTTPS_PORT="${CLICKHOUSE_HTTPS_PORT:-8443}"
KAFKA_DIR="$STATE/kafka"
TLS_DIR="$STATE/tls"
CH_DIR="$STATE/clickhouse"
CH_BIN="${CLICKHOUSE_SERVER_BIN:-/usr/sbin/clickhouse-server}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_DIR="$STATE/registry"
APICURIO_VERSION="2.6.13.Final"
OAUTH_PORT="${OAUTH_PORT:-9100}"
OAUTH_DIR="$STATE/oauth"
OAUTH_ISSUER="http://127.0.0.1:$OAUTH_PORT"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

# A pid file counts only while its process is alive and still the one we started (its command line
# names our state folder), so a recycled pid is never mistaken for our service.
pid_alive() {
  [[ -f "$1" ]] || return 1
  local pid; pid="$(cat "$1")"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE"
}

# Start a command detached from this shell (own session, survives Ctrl-C here); the process writes
# its own pid before exec, so the pid file holds the service itself, not a wrapper.
spawn_detached() { # pidfile logfile cmd...
  local pidfile="$1" logfile="$2"; shift 2
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [[ -s "$pidfile" ]] && return 0; sleep 0.1; done
  die "could not start $1"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True (and says so) when the service runs already, ours or someone else's on its port.
already_up() { # name pidfile port
  if pid_alive "$2"; then
    log "$1 already running (pid $(cat "$2"))"
  elif port_open "$3"; then
    log "port $3 already answers and was not started by this script: leaving it alone"
  else
    return 1
  fi
}

wait_for() { # name timeout_s pidfile check_cmd...
  local name="$1" timeout="$2" pidfile="$3"; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if [[ -n "$pidfile" ]] && ! pid_alive "$pidfile"; then
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name did not answer within ${timeout}s"
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- Kafka
kafka_libs() {
  if ! ls "$KAFKA_DIR/libs/"kafka_2.13-*.jar >/dev/null 2>&1; then
    command -v mvn >/dev/null || die "Maven (mvn) is needed once to fetch the Kafka jars from Maven Central"
    log "fetching Kafka jars with Maven (once; cached in $KAFKA_DIR/libs)"
    mvn -q -B -f "$ROOT/services/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_DIR/libs" -DincludeScope=runtime >&2 ||
      die "mvn could not fetch the Kafka jars (see the output above)"
  fi
}

# A test CA, and certificates it signs for the servers (Kafka's secured listeners and ClickHouse's
# HTTPS port: 127.0.0.1, localhost) and for a client (CN=megaservice), made once with openssl in
# $TLS_DIR: test fixtures, not secrets.
make_tls() {
  [[ -f "$TLS_DIR/client.pem" ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed to make the test certificates"
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=megaservice test CA" \
      -keyout ca.key -out ca.pem
    for who in server client; do
      local cn=megaservice
      [[ "$who" == server ]] && cn=localhost
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$who.key" -out "$who.csr"
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$who.ext" -out "$who.crt"
      cat "$who.key" "$who.crt" >"$who.pem.tmp" && mv "$who.pem.tmp" "$who.pem"
    done
  ) >"$STATE/tls.out" 2>&1 || die "openssl failed: $(tail -n 5 "$STATE/tls.out")"
}

# SCRAM credentials live in the cluster metadata: (re)set them once the broker answers.
kafka_scram_users() {
  local mech
  for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    java -Xmx128m -Dlog4j.configuration="file:$ROOT/services/kafka/log4j.properties" \
      -cp "$KAFKA_DIR/libs/*" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --alter --add-config "$mech=[password=megaservice-secret]" \
      --entity-type users --entity-name megaservice >>"$KAFKA_DIR/scram.out" 2>&1 ||
      die "could not create the SCRAM user: $(tail -n 5 "$KAFKA_DIR/scram.out")"
  done
}

kafka_ready() {
  port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$KAFKA_DIR/kafka.out" 2>/dev/null
}

kafka_up() {
  command -v java >/dev/null || die "java (17+) is needed to run Kafka"
  already_up kafka "$KAFKA_DIR/kafka.pid" "$KAFKA_PORT" && return 0
  kafka_libs
  mkdir -p "$KAFKA_DIR/data"
  make_tls
  sed -e "s#@DATA@#$KAFKA_DIR/data#" -e "s#@PORT@#$KAFKA_PORT#g" \
    -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" -e "s#@SASL_PORT@#$KAFKA_SASL_PORT#g" \
    -e "s#@SASL_SSL_PORT@#$KAFKA_SASL_SSL_PORT#g" -e "s#@SSL_PORT@#$KAFKA_SSL_PORT#g" \
    -e "s#@OAUTH_PORT@#$KAFKA_OAUTH_PORT#g" -e "s#@OAUTH_ISSUER@#$OAUTH_ISSUER#g" -e "s#@TLS@#$TLS_DIR#g" \
    "$ROOT/services/kafka/server.properties.tmpl" >"$KAFKA_DIR/server.properties"
  local cp="$KAFKA_DIR/libs/*"
  local log4j="-Dlog4j.configuration=file:$ROOT/services/kafka/log4j.properties"
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$cp" $log4j kafka.tools.StorageTool random-uuid)"
    java -cp "$cp" $log4j kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.out" 2>&1 ||
      die "formatting Kafka storage failed: $(cat "$KAFKA_DIR/format.out")"
  fi
  : >"$KAFKA_DIR/kafka.out"
  rm -f "$KAFKA_DIR/kafka.pid"
  spawn_detached "$KAFKA_DIR/kafka.pid" "$KAFKA_DIR/kafka.out" \
    java -Xms256m "-Xmx${KAFKA_HEAP:-768m}" -XX:+UseG1GC -Djava.awt.headless=true $log4j \
    "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=$OAUTH_ISSUER/oauth2/jwks" \
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -cp "$cp" kafka.Kafka "$KAFKA_DIR/server.properties"
  log "kafka starting (pid $(cat "$KAFKA_DIR/kafka.pid")), waiting for 127.0.0.1:$KAFKA_PORT"
  wait_for kafka 120 "$KAFKA_DIR/kafka.pid" kafka_ready ||
    die "kafka did not start; last lines of $KAFKA_DIR/kafka.out:
$(tail -n 20 "$KAFKA_DIR/kafka.out")"
  kafka_scram_users
  log "kafka ready on 127.0.0.1:$KAFKA_PORT (secured listeners: $KAFKA_SASL_PORT SASL, $KAFKA_SASL_SSL_PORT SASL over TLS, $KAFKA_SSL_PORT TLS with client certificates, $KAFKA_OAUTH_PORT SASL/OAUTHBEARER)"
}

# ---------------------------------------------------------------- ClickHouse
clickhouse_install() {
  [[ -x "$CH_BIN" ]] && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian's clickhouse-server package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server) >&2 ||
      die "apt-get could not install clickhouse-server"
    # The package starts nothing we use; our server runs from its own config below.
  else
    die "clickhouse-server is not installed: run 'sudo apt-get install clickhouse-server'"
  fi
}

clickhouse_ready() {
  [[ "$(curl -fsS "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null)" == "Ok." ]]
}

clickhouse_up() {
  already_up clickhouse "$CH_DIR/clickhouse.pid" "$CH_HTTP_PORT" && return 0
  clickhouse_install
  mkdir -p "$CH_DIR"/{data,tmp,log,user_files,format_schemas,etc}
  make_tls
  sed -e "s#@DIR@#$CH_DIR#g" -e "s#@HTTP_PORT@#$CH_HTTP_PORT#" -e "s#@TCP_PORT@#$CH_TCP_PORT#" \
    -e "s#@HTTPS_PORT@#$CH_HTTPS_PORT#" -e "s#@TLS@#$TLS_DIR#g" \
    "$ROOT/services/clickhouse/config.xml.tmpl" >"$CH_DIR/etc/config.xml"
  cp "$ROOT/services/clickhouse/users.xml" "$CH_DIR/etc/users.xml"
  rm -f "$CH_DIR/clickhouse.pid"
  : >"$CH_DIR/log/stdout.log"
  (cd "$CH_DIR" && spawn_detached "$CH_DIR/clickhouse.pid" "$CH_DIR/log/stdout.log" \
    "$CH_BIN" --config-file="$CH_DIR/etc/config.xml")
  log "clickhouse starting (pid $(cat "$CH_DIR/clickhouse.pid")), waiting for 127.0.0.1:$CH_HTTP_PORT"
  wait_for clickhouse 60 "$CH_DIR/clickhouse.pid" clickhouse_ready ||
    die "clickhouse did not start; last lines of its logs:
$(tail -n 20 "$CH_DIR/log/stdout.log" "$CH_DIR/log/clickhouse-server.err.log" 2>/dev/null)"
  log "clickhouse ready on 127.0.0.1:$CH_HTTP_PORT ($(curl -fsS "http://127.0.0.1:$CH_HTTP_PORT/?query=SELECT%20version()"))"
}

# ---------------------------------------------------------------- Apicurio Registry
registry_ready() {
  curl -fsS "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects" >/dev/null 2>&1
}

registry_up() {
  command -v java >/dev/null || die "java (17+) is needed to run Apicurio Registry"
  already_up registry "$REGISTRY_DIR/registry.pid" "$REGISTRY_PORT" && return 0
  local jar="$REGISTRY_DIR/app/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
  if [[ ! -f "$jar" ]]; then
    command -v mvn >/dev/null || die "Maven (mvn) is needed once to fetch Apicurio Registry from Maven Central"
    log "fetching Apicurio Registry $APICURIO_VERSION with Maven (once; cached in $REGISTRY_DIR/app)"
    mkdir -p "$REGISTRY_DIR/download" "$REGISTRY_DIR/app"
    (cd "$REGISTRY_DIR/download" && mvn -q -B dependency:copy \
      "-Dartifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory=.) >&2 ||
      die "mvn could not fetch io.apicurio:apicurio-registry-app:$APICURIO_VERSION (tar.gz, all)"
    tar xzf "$REGISTRY_DIR/download/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$REGISTRY_DIR/app"
    rm -rf "$REGISTRY_DIR/download"
  fi
  : >"$REGISTRY_DIR/registry.out"
  rm -f "$REGISTRY_DIR/registry.pid"
  # In-memory storage (the app's default): schemas live as long as the process.
  spawn_detached "$REGISTRY_DIR/registry.pid" "$REGISTRY_DIR/registry.out" \
    java -Xmx384m -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$REGISTRY_PORT" \
    "-Dregistry.dir=$REGISTRY_DIR" -jar "$jar"
  log "registry starting (pid $(cat "$REGISTRY_DIR/registry.pid")), waiting for 127.0.0.1:$REGISTRY_PORT"
  wait_for registry 120 "$REGISTRY_DIR/registry.pid" registry_ready ||
    die "the registry did not start; last lines of $REGISTRY_DIR/registry.out:
$(tail -n 20 "$REGISTRY_DIR/registry.out")"
  log "registry ready on http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
}

# ---------------------------------------------------------------- OAuth 2.0 authorization server
oauth_ready() {
  curl -fsS "$OAUTH_ISSUER/.well-known/oauth-authorization-server" >/dev/null 2>&1
}

oauth_up() {
  command -v java >/dev/null || die "java (17+) is needed to run the OAuth server"
  already_up oauth "$OAUTH_DIR/oauth.pid" "$OAUTH_PORT" && return 0
  # Built once, and again when its sources change (their hash is kept beside the jar).
  local jar="$OAUTH_DIR/local-oauth.jar" sum
  sum="$(cd "$ROOT/services/oauth" && find pom.xml src -type f | sort | xargs sha1sum | sha1sum | cut -c1-40)"
  if [[ ! -f "$jar" || "$(cat "$OAUTH_DIR/source.sha1" 2>/dev/null)" != "$sum" ]]; then
    command -v mvn >/dev/null || die "Maven (mvn) is needed once to build the OAuth server"
    log "building the OAuth server with Maven (once; cached in $OAUTH_DIR)"
    mkdir -p "$OAUTH_DIR"
    mvn -q -B -f "$ROOT/services/oauth/pom.xml" package -DskipTests "-Doauth.build.dir=$OAUTH_DIR/build" >&2 ||
      die "mvn could not build services/oauth (see the output above)"
    cp "$OAUTH_DIR/build/local-oauth-1.jar" "$jar"
    rm -rf "$OAUTH_DIR/build"
    echo "$sum" >"$OAUTH_DIR/source.sha1"
  fi
  : >"$OAUTH_DIR/oauth.out"
  rm -f "$OAUTH_DIR/oauth.pid"
  # Its signing key is made at start and lives as long as the process (Kafka fetches it again).
  spawn_detached "$OAUTH_DIR/oauth.pid" "$OAUTH_DIR/oauth.out" \
    java -Xmx128m -XX:TieredStopAtLevel=1 -jar "$jar" "--server.port=$OAUTH_PORT" \
    "--spring.security.oauth2.authorizationserver.issuer=$OAUTH_ISSUER"
  log "oauth starting (pid $(cat "$OAUTH_DIR/oauth.pid")), waiting for $OAUTH_ISSUER"
  wait_for oauth 120 "$OAUTH_DIR/oauth.pid" oauth_ready ||
    die "the OAuth server did not start; last lines of $OAUTH_DIR/oauth.out:
$(tail -n 20 "$OAUTH_DIR/oauth.out")"
  log "oauth ready: token endpoint $OAUTH_ISSUER/oauth2/token"
}

# ---------------------------------------------------------------- common
stop_pid() { # name pidfile
  local name="$1" pidfile="$2"
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    log "$name not running (not started by this script)"
    return 0
  fi
  local pid
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30s, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "$name stopped"
}

status_of() { # name pidfile
  if pid_alive "$2"; then echo "$1: running (pid $(cat "$2"))"; else echo "$1: stopped"; fi
}

print_env() {
  echo "export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
  # Kafka's secured listeners (user megaservice, password megaservice-secret) and ClickHouse's HTTPS
  # port; the test CA and certificates are in SERVICES_TLS_DIR.
  echo "export KAFKA_SASL_BROKERS=127.0.0.1:$KAFKA_SASL_PORT"
  echo "export KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SASL_SSL_PORT"
  echo "export KAFKA_SSL_BROKERS=127.0.0.1:$KAFKA_SSL_PORT"
  # SASL/OAUTHBEARER: tokens from the local OAuth server (client megaservice, secret megaservice-secret).
  echo "export KAFKA_OAUTH_BROKERS=127.0.0.1:$KAFKA_OAUTH_PORT"
  echo "export OAUTH_TOKEN_URL=$OAUTH_ISSUER/oauth2/token"
  echo "export CLICKHOUSE_HTTPS_URL=https://127.0.0.1:$CH_HTTPS_PORT"
  echo "export SERVICES_TLS_DIR=$TLS_DIR"
  echo "export CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT"
  echo "export SCHEMA_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
}

cmd="${1:-status}"
if [[ "$cmd" == kafka-tool ]]; then
  # Kafka's own Java clients (a real third-party producer and consumer for the tests).
  [[ $# -ge 2 ]] || die "kafka-tool needs a class name, e.g. kafka.tools.ConsoleProducer"
  command -v java >/dev/null || die "java (17+) is needed to run Kafka's tools"
  kafka_libs
  shift
  exec java -Xmx256m "-Dlog4j.configuration=file:$ROOT/services/kafka/log4j.properties" \
    -cp "$KAFKA_DIR/libs/*" "$@"
fi
what="${2:-all}"
case "$what" in oauth | kafka | clickhouse | registry | all) ;; *) die "unknown service '$what' (allowed: oauth, kafka, clickhouse, registry, all)" ;; esac
want() { [[ "$what" == all || "$what" == "$1" ]]; }

case "$cmd" in
  up)
    # The OAuth server first, and with Kafka: the broker does not start while its OAUTHBEARER
    # listener cannot read the server's keys.
    if want oauth || want kafka; then oauth_up; fi
    want kafka && kafka_up
    want clickhouse && clickhouse_up
    want registry && registry_up
    print_env
    ;;
  down)
    want registry && stop_pid registry "$REGISTRY_DIR/registry.pid"
    want clickhouse && stop_pid clickhouse "$CH_DIR/clickhouse.pid"
    want kafka && stop_pid kafka "$KAFKA_DIR/kafka.pid"
    want oauth && stop_pid oauth "$OAUTH_DIR/oauth.pid"
    : # a service not asked for is not an error
    ;;
  status)
    want kafka && status_of kafka "$KAFKA_DIR/kafka.pid"
    want clickhouse && status_of clickhouse "$CH_DIR/clickhouse.pid"
    want registry && status_of registry "$REGISTRY_DIR/registry.pid"
    want oauth && status_of oauth "$OAUTH_DIR/oauth.pid"
    :
    ;;
  reset)
    # Benchmarks and tests leave topics and tables behind; on a small machine a broker with many GB
    # of logs and a server with thousands of tables spend CPU on their own housekeeping.
    want registry && stop_pid registry "$REGISTRY_DIR/registry.pid" # in-memory: stopping is the reset
    want oauth && stop_pid oauth "$OAUTH_DIR/oauth.pid"             # keys in memory: the same
    if want clickhouse; then
      stop_pid clickhouse "$CH_DIR/clickhouse.pid"
      rm -rf "${CH_DIR:?}"/{data,tmp,log,user_files,format_schemas}
      log "clickhouse data deleted"
    fi
    if want kafka; then
      stop_pid kafka "$KAFKA_DIR/kafka.pid"
      rm -rf "${KAFKA_DIR:?}/data"
      log "kafka data deleted (jars kept in $KAFKA_DIR/libs)"
    fi
    :
    ;;
  env) print_env ;;
  *) die "unknown command '$cmd' (allowed: up, down, status, reset, env, kafka-tool)" ;;
esac
