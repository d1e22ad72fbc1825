#!/bin/sh
# Start one Apache Kafka node in KRaft mode (combined broker + controller) for bedflow.
# Used by deploy/compose.yaml (mounted file) and deploy/k8s (ConfigMap kafka-scripts, same text:
# tests/test_deploy.py checks that the copies are identical).
#
# Listeners (no PLAINTEXT client listener: every client authenticates with SCRAM over TLS)
#   CONTROLLER :9093  $KAFKA_CONTROLLER_PROTOCOL (PLAINTEXT on a single node bound to localhost, SSL in k8s)
#   CLIENT     :9094  SASL_SSL with SCRAM-SHA-512: bedflow worker/web (user bedflow), regions' producers,
#                     admin tools, inter-broker traffic
#
# Authorization (StandardAuthorizer, ACLs in the metadata log): deny by default
# (allow.everyone.if.no.acl.found=false); the ACLs themselves are set by create-topics.sh (topic job).
# Super users: the admin (inter-broker traffic, topic job, tools) and the controllers' own principal:
#   SSL controller listener (k8s): mutual TLS, the broker certificate's CN ($KAFKA_BROKER_CERT_CN, kafka)
#   PLAINTEXT controller listener (one node): ANONYMOUS, which it refuses unless bound to loopback
#
# SCRAM users created in the metadata log when the node is formatted (first start only; on a cluster
# formatted earlier, create-topics.sh creates/updates the bedflow user with kafka-configs.sh):
#   $KAFKA_ADMIN_USER    (admin)    super user: inter-broker traffic, topic job, operators' tools
#   $KAFKA_BEDFLOW_USER  (bedflow)  the bedflow processes (BEDFLOW_KAFKA_SASL_USERNAME/_PASSWORD)
# $CONF_DIR/client.properties (admin, mode 0600) is written for the health check and local tools.
#
# Inputs (environment)
#   KAFKA_NODE_ID                 node id; default = ordinal of a StatefulSet pod name (kafka-2 -> 2)
#   KAFKA_CLUSTER_ID              22-char base64 cluster id, the same on every node
#   KAFKA_CONTROLLER_QUORUM_VOTERS  e.g. 0@kafka-0.kafka-headless...:9093,1@...
#   KAFKA_CONTROLLER_PROTOCOL     PLAINTEXT | SSL                       (default SSL)
#   KAFKA_CONTROLLER_HOST         address the controller listener binds to (default 0.0.0.0)
#   KAFKA_ADVERTISED_HOST         name other pods use for CLIENT (default: hostname -f)
#   KAFKA_CLIENT_ADVERTISED       host:port advertised on CLIENT (default $KAFKA_ADVERTISED_HOST:9094)
#   KAFKA_REPLICATION_FACTOR      default.replication.factor and internal topics (default 3)
#   KAFKA_MIN_INSYNC_REPLICAS     (default 2)
#   KAFKA_TLS_CERT_FILE / KAFKA_TLS_KEY_FILE / KAFKA_TLS_CA_FILE   PEM files (key: unencrypted PKCS#8)
#   KAFKA_ADMIN_USER / KAFKA_ADMIN_PASSWORD_FILE                  SCRAM super user used between brokers
#   KAFKA_BROKER_CERT_CN          CN of the broker certificate, the controllers' principal over SSL (kafka)
#   KAFKA_BEDFLOW_USER / KAFKA_BEDFLOW_PASSWORD_FILE              SCRAM user of the bedflow processes
set -eu

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
DATA_DIR=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
CONF_DIR=${KAFKA_RUNTIME_CONF_DIR:-/tmp/kafka-runtime}
CERT=${KAFKA_TLS_CERT_FILE:-/etc/kafka/secrets/tls/tls.crt}
KEY=${KAFKA_TLS_KEY_FILE:-/etc/kafka/secrets/tls/tls.key}
CA=${KAFKA_TLS_CA_FILE:-/etc/kafka/secrets/tls/ca.crt}
ADMIN_USER=${KAFKA_ADMIN_USER:-admin}
ADMIN_PASSWORD_FILE=${KAFKA_ADMIN_PASSWORD_FILE:-/etc/kafka/secrets/admin/password}
APP_USER=${KAFKA_BEDFLOW_USER:-bedflow}
APP_PASSWORD_FILE=${KAFKA_BEDFLOW_PASSWORD_FILE:-/etc/kafka/secrets/bedflow/password}
CONTROLLER_PROTOCOL=${KAFKA_CONTROLLER_PROTOCOL:-SSL}
CONTROLLER_HOST=${KAFKA_CONTROLLER_HOST:-0.0.0.0}
RF=${KAFKA_REPLICATION_FACTOR:-3}
MIN_ISR=${KAFKA_MIN_INSYNC_REPLICAS:-2}

: "${KAFKA_CLUSTER_ID:?KAFKA_CLUSTER_ID must be set (kafka-storage.sh random-uuid)}"
: "${KAFKA_CONTROLLER_QUORUM_VOTERS:?KAFKA_CONTROLLER_QUORUM_VOTERS must be set}"
NODE_ID=${KAFKA_NODE_ID:-$(hostname | sed 's/.*-//')}
ADV_HOST=${KAFKA_ADVERTISED_HOST:-$(hostname -f)}
CLIENT_ADV=${KAFKA_CLIENT_ADVERTISED:-$ADV_HOST:9094}

for f in "$CERT" "$KEY" "$CA" "$ADMIN_PASSWORD_FILE" "$APP_PASSWORD_FILE"; do
  [ -r "$f" ] || { echo "start-kafka: cannot read $f" >&2; exit 1; }
done
ADMIN_PASSWORD=$(tr -d '\r\n' < "$ADMIN_PASSWORD_FILE")
APP_PASSWORD=$(tr -d '\r\n' < "$APP_PASSWORD_FILE")
for pw in "$ADMIN_PASSWORD" "$APP_PASSWORD"; do
  case "$pw" in
    *[!A-Za-z0-9._~-]*|'') echo "start-kafka: SCRAM passwords must be non-empty [A-Za-z0-9._~-]" >&2; exit 1;;
  esac
done
[ "$APP_USER" != "$ADMIN_USER" ] || { echo "start-kafka: bedflow user must not be the admin user" >&2; exit 1; }

# The controllers' principal must be a super user (they authorize each other's requests). Over SSL the
# controller listener asks for the broker certificate and maps its subject to its CN; PLAINTEXT gives
# every connection ANONYMOUS, so it is accepted only on loopback (one node).
case "$CONTROLLER_PROTOCOL" in
  SSL)
    CONTROLLER_SUPER="User:${KAFKA_BROKER_CERT_CN:-kafka}"; CONTROLLER_CLIENT_AUTH=required;;
  PLAINTEXT)
    case "$CONTROLLER_HOST" in
      localhost|127.0.0.1) CONTROLLER_SUPER="User:ANONYMOUS"; CONTROLLER_CLIENT_AUTH=none;;
      *) echo "start-kafka: a PLAINTEXT controller listener must bind to loopback" >&2; exit 1;;
    esac;;
  *) echo "start-kafka: KAFKA_CONTROLLER_PROTOCOL must be SSL or PLAINTEXT" >&2; exit 1;;
esac
CN_RULE='RULE:^CN=([^,]+).*$/$1/,DEFAULT'

umask 077
mkdir -p "$CONF_DIR" "$DATA_DIR/logs"
# Kafka reads PEM stores natively; the keystore file holds the private key followed by the chain.
cat "$KEY" "$CERT" > "$CONF_DIR/keystore.pem"

JAAS="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$ADMIN_USER\" password=\"$ADMIN_PASSWORD\";"

cat > "$CONF_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS
controller.listener.names=CONTROLLER
listeners=CONTROLLER://$CONTROLLER_HOST:9093,CLIENT://0.0.0.0:9094
advertised.listeners=CLIENT://$CLIENT_ADV
listener.security.protocol.map=CONTROLLER:$CONTROLLER_PROTOCOL,CLIENT:SASL_SSL
inter.broker.listener.name=CLIENT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=$JAAS
ssl.keystore.type=PEM
ssl.keystore.location=$CONF_DIR/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$CA
ssl.endpoint.identification.algorithm=https
ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.controller.ssl.client.auth=$CONTROLLER_CLIENT_AUTH
ssl.principal.mapping.rules=$CN_RULE
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$ADMIN_USER;$CONTROLLER_SUPER
log.dirs=$DATA_DIR/logs
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$RF
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
unclean.leader.election.enable=false
log.retention.hours=168
group.initial.rebalance.delay.ms=3000
PROPS

# Admin client settings for the health check and operators' tools (kafka-*.sh --command-config).
cat > "$CONF_DIR/client.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$JAAS
ssl.truststore.type=PEM
ssl.truststore.location=$CA
PROPS

# First start only: format the metadata log and create the SCRAM users (admin, bedflow) in it.
"$KAFKA_HOME/bin/kafka-storage.sh" format --ignore-formatted \
  --cluster-id "$KAFKA_CLUSTER_ID" --config "$CONF_DIR/server.properties" \
  --add-scram "SCRAM-SHA-512=[name=$ADMIN_USER,password=$ADMIN_PASSWORD]" \
  --add-scram "SCRAM-SHA-512=[name=$APP_USER,password=$APP_PASSWORD]"

exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$CONF_DIR/server.properties"
