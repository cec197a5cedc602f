"""OMNIHUB_REDIS_SENTINELS / OMNIHUB_REDIS_SENTINEL_MASTER: the settings, the one client
factory (hub.redisconn) against real sentinels, a demoted master's READONLY, and the
sweeper's restart of a drain whose job a failover lost. The failover under load is
tests/faults/test_sentinel_failover.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings, parse_sentinels
from hub import leases
from hub.redisconn import SentinelMaster, connect, describe
from hub.runtime import Runtime
from tests.support.hub import wait_until
from tests.support.sentinel import MASTER, SENTINEL_PASSWORD


def test_sentinel_addresses_parse_and_normalise():
    assert parse_sentinels("10.0.0.1:26379, 10.0.0.2:26380 sentinel-3") == [
        ("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379)]
    assert parse_sentinels("[::1]:5000,[fe80::1]") == [("::1", 5000), ("fe80::1", 26379)]
    assert parse_sentinels("a:1,a:1") == [("a", 1)]
    s = Settings(redis_sentinels=" a:1 ,b:2,[::1]:3 ", redis_sentinel_master="mymaster")
    assert s.redis_sentinels == "a:1,b:2,[::1]:3" and s.redis_sentinel_nodes == [("a", 1), ("b", 2), ("::1", 3)]
    assert Settings().redis_sentinel_nodes == [] and Settings().redis_sentinel_master == ""


@pytest.mark.parametrize("values, field", [
    ({"redis_sentinels": "a:1"}, "redis_sentinel_master"),  # sentinels without the master's name
    ({"redis_sentinel_master": "mymaster"}, "redis_sentinel_master"),  # a name without sentinels
    ({"redis_sentinels": "a:0", "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": "a:65536", "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": "a:b", "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": "user@a:1", "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": "a:1", "redis_sentinel_master": "my master"}, "redis_sentinel_master"),
    ({"redis_sentinels": ",".join(f"h{i}:1" for i in range(33)), "redis_sentinel_master": "m"}, "redis_sentinels"),
])
def test_invalid_sentinel_settings_are_refused_naming_the_variable(values, field):
    with pytest.raises(ValidationError) as err:
        Settings(**values)
    assert [e["loc"] for e in err.value.errors()] == [(field,)]


def _settings(cluster, tmp_path, db: int = 4) -> Settings:
    return Settings(var_dir=tmp_path / "var", secret_key="k" * 40, redis_url=cluster.url(db), redis_sentinels=cluster.addresses,
                    redis_sentinel_master=MASTER, redis_sentinel_password=SENTINEL_PASSWORD, queue_prefix="sent")


def test_every_client_reaches_the_master_the_sentinels_name(sentinel_cluster, tmp_path):
    cluster = sentinel_cluster
    settings = _settings(cluster, tmp_path)
    rt = Runtime(settings)
    try:
        assert isinstance(rt.redis, SentinelMaster)
        rt.redis.set("sent:probe", "1")  # credentials and database from OMNIHUB_REDIS_URL
        with cluster.client(cluster.first_master) as direct:
            direct.execute_command("SELECT", 4)
            assert direct.get("sent:probe") == b"1"
        lease_client = leases.client(rt.redis_url, 2.0, settings)
        assert isinstance(lease_client, SentinelMaster) and lease_client.get("sent:probe") == b"1"
        lease_client.close()
        text = describe(settings, rt.redis_url)
        assert MASTER in text and "data-secret" not in text
        # no sentinels: OMNIHUB_REDIS_URL is the server, as before
        plain = connect(None, f"redis://:data-secret@127.0.0.1:{cluster.first_master}/4")
        assert not isinstance(plain, SentinelMaster) and plain.get("sent:probe") == b"1"
        plain.close()
    finally:
        rt.close()


def test_wrong_sentinel_password_fails_closed(sentinel_cluster, tmp_path):
    from redis.exceptions import ConnectionError as RedisConnectionError

    settings = _settings(sentinel_cluster, tmp_path).model_copy(update={"redis_sentinel_password": "wrong"})
    client = connect(settings, settings.redis_url, retry=None)
    with pytest.raises(RedisConnectionError):
        client.ping()
    client.close()


def test_a_demoted_master_is_left_for_the_new_one(sentinel_cluster, tmp_path):
    """SENTINEL FAILOVER turns the master into a replica: a connection still open to it gets
    READONLY on a write (a plain command and a Lua script, as the queues use); the client
    drops it, asks the sentinels and writes to the new master."""
    cluster = sentinel_cluster
    rt = Runtime(_settings(cluster, tmp_path))
    try:
        q = rt.queues
        q.redis.rpush("sent:list", 1)
        script = q.redis.register_script("return redis.call('RPUSH', KEYS[1], ARGV[1])")
        script(keys=["sent:list"], args=[2])  # connections to the first master are now pooled
        cluster.failover()
        cluster.wait_master(cluster.first_replica)
        with cluster.client(cluster.first_master) as old:
            wait_until(lambda: old.info("replication")["role"] == "slave", timeout=30, message="the old master demoted")
        assert script(keys=["sent:list"], args=[3]) >= 1
        q.redis.rpush("sent:list", 4)
        assert rt.redis.connection_pool.master_address == ("127.0.0.1", cluster.first_replica)
        with cluster.client(cluster.first_replica) as new:
            new.execute_command("SELECT", 4)
            assert {b"3", b"4"} <= set(new.lrange("sent:list", 0, -1))
    finally:
        rt.close()


def test_sweeper_restarts_a_drain_whose_job_was_lost(hub):
    """Ids waiting in a stage's list with no drain slot held (the drain job was discarded
    with a failed-over master): the sweeper's kick enqueues a drain, once."""
    q = hub.rt.queues
    q.redis.rpush(q.pending_key("ingest"), 999_999)
    assert q.kick("ingest") is True
    assert q.by_name["inbound"].count == 1
    assert q.kick("ingest") is False  # a slot is held: its drain will take the ids
    q.redis.delete(q.pending_key("ingest"))
    q.release_slot("ingest", 0)
    assert q.kick("ingest") is False  # nothing waiting: nothing to do


def test_worker_restarts_after_a_redis_error_outside_its_wait(tmp_path):
    """RQ survives a connection error only while it waits for a job; any other Redis error
    ends its loop. `omnihub worker` then waits for Redis and starts a fresh RQ worker rather
    than exit. Triggered for real: a redis-server refusing every write (maxmemory, noeviction:
    OOM), then accepting them again."""
    from hub.embedded import free_port
    from hub.models import Message
    from tests.faults.support import SECRET, api_body, post
    from tests.support.hub import Hub
    from tests.support.sentinel import PASSWORD, SentinelCluster, require_binaries

    require_binaries()
    own = SentinelCluster()  # only its data-server helper: one plain redis-server
    port = free_port()
    try:
        own.start_server(port)
        h = Hub(tmp_path / "hub", f"redis://:{PASSWORD}@127.0.0.1:{port}/0", sweep_after=1.0)
        try:
            h.add_connector("web", "api", secret=SECRET)
            with own.client(port) as r:
                r.config_set("maxmemory-policy", "noeviction")
                r.config_set("maxmemory", 1)
                h.start_worker()
                wait_until(lambda: "worker.restarting" in h.output("worker"), timeout=60, interval=0.1,
                           message="the worker to start again after OOM")
                r.config_set("maxmemory", 0)
            assert post(h.client, api_body(1)).status_code == 200
            wait_until(lambda: h.count(Message) == 1, timeout=60, interval=0.1, message="the message stored by the restarted worker")
            assert h.procs["worker"].poll() is None
        finally:
            h.close()
    finally:
        own.stop()
