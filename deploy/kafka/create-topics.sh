#!/bin/sh
# Create (idempotently) the bedflow topics with the partition count the workers are sized for.
# Used by the compose service `topic-init` and the k8s Job `bedflow-topics` (ConfigMap kafka-scripts,
# same text: tests/test_deploy.py checks that the copies are identical).
#
# The partition count is BEDFLOW_PARTITIONS (the same variable the workers read). An existing topic
# with a different count is an error, never silently changed: adding partitions re-maps ward and
# contact keys to other partitions and breaks per-key order and the workers' table state
# (see deploy/OPERATIONS.md, "Partitions and scaling").
#
# It also creates or updates the SCRAM user of the bedflow processes (KAFKA_BEDFLOW_USER, password from
# KAFKA_BEDFLOW_PASSWORD_FILE). start-kafka.sh creates that user when a node is first formatted; doing it
# here as well covers clusters formatted before the user existed and password rotation (update the
# secret, re-run this job, restart worker and web).
#
# Input topics are one per region: `<BEDFLOW_TOPIC_BEDS>.<XX>` and `<BEDFLOW_TOPIC_WAITLIST>.<XX>` for each
# region code XX (BEDFLOW_REGION_TOPICS=true on the workers, who read them all and reject a record whose
# region_code is not its topic's). It sets the ACLs (the brokers deny what no ACL allows):
#   sender-XX (one SCRAM user per region)  WRITE, DESCRIBE on its own two input topics, nothing else
#   bedflow (worker/web)                   READ, DESCRIBE on every region's input topics; WRITE, DESCRIBE
#                                          on the dead letters and the three change feeds; READ on its
#                                          consumer group
#   admin                                  super user (start-kafka.sh): tools, replays, reading dead letters
# Only the ACLs this script adds are its own; it removes none (OPERATIONS.md, "Access model").
#
# Inputs (environment)
#   KAFKA_BOOTSTRAP            host:port of the SASL_SSL listener (CLIENT, 9094)
#   KAFKA_ADMIN_PASSWORD_FILE  SCRAM-SHA-512 password of KAFKA_ADMIN_USER (default admin); CA in KAFKA_TLS_CA_FILE
#   KAFKA_BEDFLOW_PASSWORD_FILE  if set: create/update SCRAM user KAFKA_BEDFLOW_USER (default bedflow)
#   KAFKA_REPLICATION_FACTOR   (default 3)      KAFKA_MIN_INSYNC_REPLICAS (default 2)
#   RAW_RETENTION_DAYS         input topics beds/waitlist (default 90)
#   DEADLETTER_RETENTION_DAYS  dead letters (default 90)
#   DERIVED_RETENTION_DAYS     ward-status / out-of-area / waitlist-status (default 7)
#   BEDFLOW_PARTITIONS, BEDFLOW_TOPIC_BEDS, BEDFLOW_TOPIC_WAITLIST, BEDFLOW_TOPIC_DEADLETTER,
#   BEDFLOW_TOPIC_WARD_STATUS, BEDFLOW_TOPIC_OUT_OF_AREA, BEDFLOW_TOPIC_WAITLIST_STATUS,
#   BEDFLOW_CONSUMER_GROUP (default bedflow-processors), BEDFLOW_REGION_TOPICS (must be true)
#   KAFKA_SENDER_USER_PREFIX   a region's sender is user <prefix><XX> (default sender-)
set -eu

# The 21 region codes (schemas/reference; tests/test_kafka_acl.py checks the list).
REGIONS="01 03 04 05 06 07 08 09 10 12 13 14 17 18 19 20 21 22 23 24 25"
# The workers must read what this script creates (the same variable, from the same ConfigMap / env).
case "${BEDFLOW_REGION_TOPICS:-}" in
  true|True|TRUE|1|yes) ;;
  *) echo "topic-init: BEDFLOW_REGION_TOPICS must be true: senders may write only their region's topics" >&2; exit 2;;
esac

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
BIN=$KAFKA_HOME/bin
: "${KAFKA_BOOTSTRAP:?KAFKA_BOOTSTRAP must be set}"
PARTITIONS=${BEDFLOW_PARTITIONS:-4}
RF=${KAFKA_REPLICATION_FACTOR:-3}
MIN_ISR=${KAFKA_MIN_INSYNC_REPLICAS:-2}
DAY_MS=86400000
RAW_MS=$(( ${RAW_RETENTION_DAYS:-90} * DAY_MS ))
DLQ_MS=$(( ${DEADLETTER_RETENTION_DAYS:-90} * DAY_MS ))
DERIVED_MS=$(( ${DERIVED_RETENTION_DAYS:-7} * DAY_MS ))

: "${KAFKA_ADMIN_PASSWORD_FILE:?KAFKA_ADMIN_PASSWORD_FILE must be set (SASL_SSL as the SCRAM admin)}"

umask 077
PROPS=$(mktemp)
trap 'rm -f "$PROPS"' EXIT
PW=$(tr -d '\r\n' < "$KAFKA_ADMIN_PASSWORD_FILE")
cat > "$PROPS" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${KAFKA_ADMIN_USER:-admin}" password="$PW";
ssl.truststore.type=PEM
ssl.truststore.location=${KAFKA_TLS_CA_FILE:-/etc/kafka/secrets/tls/ca.crt}
PROPS

topics() { "$BIN/kafka-topics.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$PROPS" "$@"; }

echo "topic-init: waiting for $KAFKA_BOOTSTRAP"
i=0
until topics --list > /dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -lt 60 ] || { echo "topic-init: broker unreachable" >&2; exit 1; }
  sleep 5
done

if [ -n "${KAFKA_BEDFLOW_PASSWORD_FILE:-}" ]; then
  APP_PW=$(tr -d '\r\n' < "$KAFKA_BEDFLOW_PASSWORD_FILE")
  case "$APP_PW" in
    *[!A-Za-z0-9._~-]*|'') echo "topic-init: bedflow password must be non-empty [A-Za-z0-9._~-]" >&2; exit 1;;
  esac
  "$BIN/kafka-configs.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$PROPS" --alter \
    --entity-type users --entity-name "${KAFKA_BEDFLOW_USER:-bedflow}" \
    --add-config "SCRAM-SHA-512=[password=$APP_PW]" > /dev/null
  echo "topic-init: SCRAM user ${KAFKA_BEDFLOW_USER:-bedflow} ok"
fi

ensure() {  # name retention_ms cleanup_policy
  topics --create --if-not-exists --topic "$1" --partitions "$PARTITIONS" --replication-factor "$RF" \
    --config "retention.ms=$2" --config "cleanup.policy=$3" --config "min.insync.replicas=$MIN_ISR" \
    --config "compression.type=zstd" --config "max.message.bytes=1048576"
  have=$(topics --describe --topic "$1" | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
  if [ "$have" != "$PARTITIONS" ]; then
    echo "topic-init: $1 has $have partitions, BEDFLOW_PARTITIONS=$PARTITIONS: refusing to continue" >&2
    exit 2
  fi
  echo "topic-init: $1 ok ($have partitions, retention ${2} ms, $3)"
}

BEDS=${BEDFLOW_TOPIC_BEDS:-bedflow.beds.v1}
WAITLIST=${BEDFLOW_TOPIC_WAITLIST:-bedflow.waitlist.v1}
DLQ=${BEDFLOW_TOPIC_DEADLETTER:-bedflow.deadletter.v1}
OUTPUTS="${BEDFLOW_TOPIC_WARD_STATUS:-bedflow.ward-status.v1} ${BEDFLOW_TOPIC_OUT_OF_AREA:-bedflow.out-of-area.v1} ${BEDFLOW_TOPIC_WAITLIST_STATUS:-bedflow.waitlist-status.v1}"
APP="User:${KAFKA_BEDFLOW_USER:-bedflow}"
SENDER=${KAFKA_SENDER_USER_PREFIX:-sender-}

# ACLs first (they may name topics that do not exist yet): the workers' wait-for-topics waits for the
# last topic below, and from then on everything they need is allowed.
acl() { "$BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$PROPS" --add "$@" > /dev/null; }
for r in $REGIONS; do
  for t in "$BEDS.$r" "$WAITLIST.$r"; do
    acl --allow-principal "User:$SENDER$r" --operation Write --operation Describe --topic "$t"
    acl --allow-principal "$APP" --operation Read --operation Describe --topic "$t"
  done
done
for t in "$DLQ" $OUTPUTS; do
  acl --allow-principal "$APP" --operation Write --operation Describe --topic "$t"
done
acl --allow-principal "$APP" --operation Read --operation Describe --group "${BEDFLOW_CONSUMER_GROUP:-bedflow-processors}"
echo "topic-init: ACLs ok (senders ${SENDER}XX write their region's input topics only)"

for r in $REGIONS; do
  ensure "$BEDS.$r" "$RAW_MS" delete
  ensure "$WAITLIST.$r" "$RAW_MS" delete
done
ensure "$DLQ" "$DLQ_MS" delete
for t in $OUTPUTS; do
  ensure "$t" "$DERIVED_MS" delete
done
echo "topic-init: done"
