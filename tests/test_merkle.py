"""The publication log as an RFC 9162 Merkle tree: `/log/sth.json`, `/log/key`,
`/log/proof/inclusion`, `/log/proof/consistency` and `registry verify-log [--url] [--since]`.

The proofs are checked by a verifier written here from RFC 9162 section 2.1 (the recursive
definitions of MTH, PATH and PROOF, and the verification algorithms of 2.1.3.2 and
2.1.4.2); it does not import the application's Merkle code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import threading
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from registry import publog
from registry.config import ConfigError, load_settings
from registry.models import Event, LogEntry, LogNode, SequenceCounter
from tests.conftest import TEST_SECRET, new_app

# --- RFC 9162 section 2.1, written out independently --------------------------------------


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return h(b"")
    if len(d) == 1:
        return h(b"\x00" + d[0])
    k = k_of(len(d))
    return h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) <= 1:
        return []
    k = k_of(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def lsb(x: int) -> bool:
    return x & 1 == 1


def check_inclusion(index: int, size: int, leaf: bytes, audit: list[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in audit:
        if sn == 0:
            return False
        if lsb(fn) or fn == sn:
            r = h(b"\x01" + p + r)
            if not lsb(fn):
                while not lsb(fn) and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def check_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, audit: list[bytes]
) -> bool:
    if first == second:
        return audit == [] and first_root == second_root
    if not audit:
        return False
    audit = list(audit)
    if first & (first - 1) == 0:
        audit.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while lsb(fn):
        fn, sn = fn >> 1, sn >> 1
    fr = sr = audit[0]
    for c in audit[1:]:
        if sn == 0:
            return False
        if lsb(fn) or fn == sn:
            fr, sr = h(b"\x01" + c + fr), h(b"\x01" + c + sr)
            if not lsb(fn):
                while not lsb(fn) and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def test_the_independent_verifier_rejects_a_wrong_path():
    """The test's own verifier is not a rubber stamp."""
    d = [bytes([i]) for i in range(13)]
    good = path(5, d)
    assert check_inclusion(5, 13, h(b"\x00" + d[5]), good, mth(d))
    assert not check_inclusion(6, 13, h(b"\x00" + d[5]), good, mth(d))
    assert not check_inclusion(5, 13, h(b"\x00" + d[5]), good[:-1], mth(d))
    assert check_consistency(5, 13, mth(d[:5]), mth(d), proof(5, d))
    assert not check_consistency(5, 13, mth(d[:6]), mth(d), proof(5, d))


# --- a log of synthetic entries --------------------------------------------------------------


def append_entries(session: Session, count: int) -> None:
    """`count` publication events and their log entries, written as the import writes them."""
    first_seq = (session.scalar(select(func.max(Event.seq))) or 0) + 1
    first_id = (session.scalar(select(func.max(Event.id))) or 0) + 1
    events = [
        {
            "id": first_id + i,
            "seq": first_seq + i,
            "actor_label": "test",
            "authority_id": None,
            "entity_type": "listing",
            "entity_id": 100_000 + first_id + i,
            "action": "publish",
        }
        for i in range(count)
    ]
    session.execute(insert(Event.__table__), events)
    publog.insert_many(
        session,
        [
            (values, SimpleNamespace(id=values["entity_id"]), {"name": f"测试企业{values['id']}"})
            for values in events
        ],
    )


def entry_bytes(session: Session) -> list[bytes]:
    """The leaf data: the raw bytes of each entry's hash, in number order."""
    return [
        bytes.fromhex(value)
        for value in session.scalars(select(LogEntry.entry_hash).order_by(LogEntry.number))
    ]


@pytest.fixture
def log300(session) -> list[bytes]:
    """300 entries appended in batches of 1, 2, 3 … so batches end everywhere in the tree."""
    size = 0
    step = 1
    while size < 300:
        count = min(step, 300 - size)
        append_entries(session, count)
        size += count
        step += 1
    session.flush()
    return entry_bytes(session)


def get_proof(client, url: str, key: str) -> list[bytes]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True))
    return [bytes.fromhex(node) for node in response.get_json()[key]]


def test_stored_roots_equal_rfc9162_mth_for_every_size_up_to_300(session, log300):
    for size in range(0, 301):
        assert publog.root_at(session, size) == mth(log300[:size]), size


def test_inclusion_proofs_verify_for_all_pairs_up_to_64_and_random_ones_up_to_300(client, log300):
    rng = random.Random(9162)
    pairs = [(i, n) for n in range(1, 65) for i in range(n)]
    pairs += [(rng.randrange(n), n) for n in (rng.randint(65, 300) for _ in range(400))]
    pairs += [(i, n) for n in range(65, 301) for i in {0, n - 1}]
    roots = {n: mth(log300[:n]) for n in {n for _, n in pairs}}
    for index, size in pairs:
        audit = get_proof(
            client, f"/log/proof/inclusion?index={index}&size={size}", "inclusion_path"
        )
        assert audit == path(index, log300[:size]), (index, size)
        leaf = h(b"\x00" + log300[index])
        assert check_inclusion(index, size, leaf, audit, roots[size]), (index, size)


def test_consistency_proofs_verify_for_all_pairs_up_to_64_and_random_ones_up_to_300(client, log300):
    rng = random.Random(6962)
    pairs = [(m, n) for n in range(1, 65) for m in range(1, n + 1)]
    for _ in range(400):
        n = rng.randint(65, 300)
        pairs.append((rng.randint(1, n), n))
    pairs += [(m, 300) for m in range(1, 301)]
    roots = {n: mth(log300[:n]) for n in range(1, 301)}
    for first, second in pairs:
        audit = get_proof(
            client, f"/log/proof/consistency?first={first}&second={second}", "consistency_path"
        )
        assert audit == proof(first, log300[:second]), (first, second)
        assert check_consistency(first, second, roots[first], roots[second], audit)


def test_random_proofs_on_a_larger_tree_read_few_rows(session, engine):
    """A 5,000-entry log: random proofs verify, and one proof is one SELECT of O(log n) rows."""
    append_entries(session, 5000)
    session.flush()
    leaves = entry_bytes(session)
    hashed = [h(b"\x00" + leaf) for leaf in leaves]
    rng = random.Random(5000)
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    for _ in range(40):
        size = rng.randint(1000, 5000)
        index = rng.randrange(size)
        first = rng.randint(1, size)
        root = mth(leaves[:size])
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            audit = publog.inclusion_proof(session, index, size)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(statements) == 1
        assert check_inclusion(index, size, hashed[index], audit, root)
        consistency = publog.consistency_proof(session, first, size)
        assert check_consistency(first, size, mth(leaves[:first]), root, consistency)


# --- the signed tree head and the key ---------------------------------------------------------


def tree_head_bytes(size: int, timestamp: int, root: bytes) -> bytes:
    """RFC 9162 TreeHeadDataV2, TLS-encoded, written out here."""
    return struct.pack(">Q", timestamp) + struct.pack(">Q", size) + bytes([32]) + root + b"\0\0"


def test_sth_signature_verifies_with_the_published_key(client, session, log300):
    public_pem = client.get("/log/key").get_data()
    public = serialization.load_pem_public_key(public_pem)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sth = client.get("/log/sth.json").get_json()
    assert sth["tree_size"] == session.scalar(select(func.count(LogEntry.number))) == 300
    assert sth["root_hash"] == mth(log300).hex()
    assert sth["key_id"] == hashlib.sha256(der).hexdigest()
    assert client.get("/log/key").headers["Key-Id"] == sth["key_id"]
    assert client.get("/log/key.json").get_json()["key_id"] == sth["key_id"]
    last = session.scalar(select(LogEntry.at).where(LogEntry.number == 300))
    assert sth["timestamp"] == int(last.timestamp() * 1000)
    signed = tree_head_bytes(300, sth["timestamp"], bytes.fromhex(sth["root_hash"]))
    public.verify(base64.b64decode(sth["signature"]), signed)  # raises if it does not verify
    # signed on request from the stored head: the same bytes on every request and host
    assert client.get("/log/sth.json").get_json() == sth


def test_sth_moves_with_each_append(client, session, log300):
    before = client.get("/log/sth.json").get_json()
    append_entries(session, 1)
    session.flush()
    after = client.get("/log/sth.json").get_json()
    assert after["tree_size"] == 301 and after["root_hash"] != before["root_hash"]
    consistency = get_proof(
        client, "/log/proof/consistency?first=300&second=301", "consistency_path"
    )
    assert check_consistency(
        300,
        301,
        bytes.fromhex(before["root_hash"]),
        bytes.fromhex(after["root_hash"]),
        consistency,
    )


def test_empty_log_has_the_empty_root(client):
    sth = client.get("/log/sth.json").get_json()
    assert sth["tree_size"] == 0
    assert sth["root_hash"] == hashlib.sha256(b"").hexdigest()
    response = client.get("/log/proof/inclusion?index=0&size=1")
    assert response.status_code == 400


# --- bad parameters -----------------------------------------------------------------------

HOSTILE = [
    "/log/proof/inclusion",
    "/log/proof/inclusion?index=0",
    "/log/proof/inclusion?size=3",
    "/log/proof/inclusion?index=&size=3",
    "/log/proof/inclusion?index=0&size=",
    "/log/proof/inclusion?index=0&index=1&size=3",
    "/log/proof/inclusion?index=0&size=3&size=4",
    "/log/proof/inclusion?index=a&size=3",
    "/log/proof/inclusion?index=1.5&size=3",
    "/log/proof/inclusion?index=-1&size=3",
    "/log/proof/inclusion?index=3&size=3",
    "/log/proof/inclusion?index=0&size=0",
    "/log/proof/inclusion?index=0&size=4",
    "/log/proof/inclusion?index=0&size=99999999999999999999999",
    "/log/proof/inclusion?index=%EF%BC%91&size=3",
    "/log/proof/inclusion?index=0x1&size=3",
    "/log/proof/inclusion?index=1_0&size=3",
    "/log/proof/consistency",
    "/log/proof/consistency?first=1",
    "/log/proof/consistency?second=2",
    "/log/proof/consistency?first=&second=2",
    "/log/proof/consistency?first=1&second=",
    "/log/proof/consistency?first=1&first=2&second=3",
    "/log/proof/consistency?first=0&second=3",
    "/log/proof/consistency?first=3&second=2",
    "/log/proof/consistency?first=1&second=4",
    "/log/proof/consistency?first=x&second=3",
    "/log/proof/consistency?first=1&second=-3",
    "/log/proof/consistency?first=1&second=%00",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_bad_proof_parameters_are_a_json_400_with_a_message(client, session, url):
    append_entries(session, 3)
    session.flush()
    response = client.get(url)
    assert response.status_code == 400, url
    message = response.get_json()["error"]["message"]
    assert message and "Traceback" not in message
    english = client.get(url + ("&" if "?" in url else "?") + "lang=en").get_json()
    assert english["error"]["message"].isascii() or "%" in url


def test_a_missing_parameter_is_named_in_the_message(client, session):
    append_entries(session, 3)
    session.flush()
    message = client.get("/log/proof/inclusion?index=0&lang=en").get_json()["error"]["message"]
    assert message == "Parameter size is required"
    message = client.get("/log/proof/consistency?first=3&second=2&lang=en").get_json()
    assert message["error"]["message"] == "Parameter first cannot be larger than second"


# --- verify-log, local -------------------------------------------------------------------------


def verify_local(app) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["verify-log"], env={"LANGUAGE": "en"})
    return result.exit_code, result.output


def test_verify_log_checks_the_stored_tree(app, session, log300):
    code, output = verify_local(app)
    assert code == 0, output
    assert mth(log300).hex() in output


@pytest.mark.parametrize(
    "tamper",
    ["leaf", "inner node", "top node", "missing node", "extra node"],
)
def test_verify_log_fails_when_the_stored_tree_is_changed(app, session, log300, tamper):
    if tamper == "missing node":
        session.execute(delete(LogNode).where(LogNode.level == 3, LogNode.position == 7))
    elif tamper == "extra node":
        session.execute(insert(LogNode).values(level=0, position=300, hash="ab" * 32))
    else:
        level = {"leaf": 0, "inner node": 2, "top node": 8}[tamper]
        session.execute(
            update(LogNode)
            .where(LogNode.level == level, LogNode.position == 0)
            .values(hash="00" * 32)
        )
    session.flush()
    code, output = verify_local(app)
    assert code == 1
    assert "MISMATCH" in output


def test_the_migration_builds_the_tree_of_the_existing_entries(own_engine):
    from registry.migrate import downgrade, upgrade

    with Session(own_engine) as session:
        append_entries(session, 77)
        session.commit()
        expected = session.execute(
            select(LogNode.level, LogNode.position, LogNode.hash).order_by(
                LogNode.level, LogNode.position
            )
        ).all()
    assert len(expected) == 77 + 38 + 19 + 9 + 4 + 2 + 1
    downgrade(own_engine, "87ed763e4b9a")
    upgrade(own_engine)
    with Session(own_engine) as session:
        rebuilt = session.execute(
            select(LogNode.level, LogNode.position, LogNode.hash).order_by(
                LogNode.level, LogNode.position
            )
        ).all()
        assert rebuilt == expected
        assert publog.verify(session) == (77, [])


# --- the key's settings --------------------------------------------------------------------

POSTGRES = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def test_a_missing_key_with_postgresql_is_a_start_up_error_naming_the_setting(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("REGISTRY_LOG_SIGNING_KEY", raising=False)
    with pytest.raises(ConfigError, match="REGISTRY_LOG_SIGNING_KEY"):
        load_settings(tmp_path, {"SECRET_KEY": TEST_SECRET, "DATABASE_URL": POSTGRES})


def test_the_key_comes_from_the_environment_as_base64_or_pem(tmp_path, monkeypatch):
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    for value in (base64.b64encode(raw).decode(), pem):
        monkeypatch.setenv("REGISTRY_LOG_SIGNING_KEY", value)
        settings = load_settings(tmp_path, {"SECRET_KEY": TEST_SECRET, "DATABASE_URL": POSTGRES})
        assert settings.LOG_SIGNING_KEY == value
    for bad in ("not-a-key", base64.b64encode(b"short").decode(), "-----BEGIN nonsense"):
        monkeypatch.setenv("REGISTRY_LOG_SIGNING_KEY", bad)
        with pytest.raises(ConfigError, match="LOG_SIGNING_KEY"):
            load_settings(tmp_path, {"SECRET_KEY": TEST_SECRET, "DATABASE_URL": POSTGRES})


def test_on_sqlite_the_key_is_kept_private_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("REGISTRY_LOG_SIGNING_KEY", raising=False)
    first = load_settings(tmp_path, {"SECRET_KEY": TEST_SECRET})
    path = tmp_path / "log-signing-key.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.LOG_SIGNING_KEY == path.read_text()
    assert load_settings(tmp_path, {"SECRET_KEY": TEST_SECRET}).LOG_SIGNING_KEY == path.read_text()


def test_init_on_sqlite_writes_the_key_once_and_private(tmp_path, monkeypatch):
    from registry.cli import main

    instance = tmp_path / "instance"
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(instance))
    for name in ("REGISTRY_SECRET_KEY", "REGISTRY_DATABASE_URL", "REGISTRY_LOG_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    first = CliRunner().invoke(main, ["init"], env={"LANGUAGE": "en"})
    assert first.exit_code == 0, first.output
    assert "publication log signing key" in first.output
    path = instance / "log-signing-key.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    key = path.read_text()
    second = CliRunner().invoke(main, ["init"], env={"LANGUAGE": "en"})
    assert second.exit_code == 0 and "signing key" not in second.output
    assert path.read_text() == key


def test_init_on_postgresql_without_the_key_names_the_setting(tmp_path, monkeypatch):
    from registry.cli import main

    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("REGISTRY_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("REGISTRY_LOG_SIGNING_KEY", raising=False)
    result = CliRunner().invoke(main, ["init"], env={"LANGUAGE": "en"})
    assert result.exit_code == 1
    assert "REGISTRY_LOG_SIGNING_KEY" in result.output
    assert not (tmp_path / "instance" / "log-signing-key.pem").exists()


# --- verify-log --url against a served instance -----------------------------------------------


@pytest.fixture
def served(own_engine, tmp_path):
    """The registry served on a loopback port over its own committed database."""
    app = new_app(
        own_engine.url.render_as_string(hide_password=False), tmp_path, PUBLIC_CACHE=False
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with Session(own_engine) as session:
        append_entries(session, 37)
        session.commit()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", engine=own_engine, app=app)
    server.shutdown()
    thread.join()
    server.server_close()
    from registry.database import get_db
    from registry.web.indexing import followers

    for follower in followers(app).values():
        follower.stop()
    get_db(app).engine.dispose()


def verify_remote(url: str, since=None) -> tuple[int, str]:
    from registry.cli import main

    args = ["verify-log", "--url", url] + (["--since", str(since)] if since else [])
    result = CliRunner().invoke(main, args, env={"LANGUAGE": "en"})
    return result.exit_code, result.output


def change(engine, statement) -> None:
    with Session(engine) as session:
        session.execute(statement)
        session.commit()


def test_verify_log_url_passes_saves_the_head_and_follows_growth(served, tmp_path):
    since = tmp_path / "sth.json"
    code, output = verify_remote(served.url, since)
    assert code == 0, output
    assert json.loads(since.read_text())["tree_size"] == 37
    with Session(served.engine) as session:
        append_entries(session, 1100)  # more than one page of /log.json
        session.commit()
    code, output = verify_remote(served.url, since)
    assert code == 0, output
    assert json.loads(since.read_text())["tree_size"] == 1137
    assert "1137" in output


def test_verify_log_url_fails_on_a_changed_entry(served, tmp_path):
    change(
        served.engine,
        update(LogEntry).where(LogEntry.number == 5).values(payload='{"name":"改过"}'),
    )
    code, output = verify_remote(served.url)
    assert code == 1 and "entry 5: content_hash" in output


@pytest.mark.parametrize(
    ("level", "position", "message"),
    [
        (0, 4, "entry 6: the inclusion proof does not verify"),
        (0, 36, "differs from the signed tree head"),
        (2, 0, "entry 6: the inclusion proof does not verify"),
        (5, 0, "differs from the signed tree head"),
    ],
)
def test_verify_log_url_fails_on_a_changed_leaf_or_node(served, level, position, message):
    change(
        served.engine,
        update(LogNode)
        .where(LogNode.level == level, LogNode.position == position)
        .values(hash="11" * 32),
    )
    code, output = verify_remote(served.url)
    assert code == 1 and message in output, output


def test_verify_log_url_fails_on_a_rewritten_history_since_the_saved_head(served, tmp_path):
    """The log rewritten after the saved head (chain and tree recomputed): not consistent."""
    since = tmp_path / "sth.json"
    assert verify_remote(served.url, since)[0] == 0
    saved = since.read_text()
    with Session(served.engine) as session:
        session.execute(delete(LogNode))
        session.execute(delete(LogEntry).where(LogEntry.number > 20))
        session.execute(update(LogEntry).where(LogEntry.number == 20).values(entry_hash="ab" * 32))
        session.flush()
        # the tree and the chain after entry 20 rebuilt over the changed entry
        hashes = [bytes.fromhex(x) for x in session.scalars(select(LogEntry.entry_hash))]
        publog.grow_tree(session, 0, [publog.leaf_of(x.hex()) for x in hashes])
        session.execute(
            update(SequenceCounter).where(SequenceCounter.name == "publog").values(value=20)
        )
        session.info.pop("publog_head", None)
        append_entries(session, 30)
        session.commit()
    code, output = verify_remote(served.url, since)
    assert code == 1
    assert "not consistent with the saved head" in output
    assert since.read_text() == saved  # the saved head is kept


def test_verify_log_url_fails_on_a_tampered_saved_signature(served, tmp_path):
    since = tmp_path / "sth.json"
    assert verify_remote(served.url, since)[0] == 0
    document = json.loads(since.read_text())
    signature = bytearray(base64.b64decode(document["signature"]))
    signature[0] ^= 1
    document["signature"] = base64.b64encode(bytes(signature)).decode()
    since.write_text(json.dumps(document))
    code, output = verify_remote(served.url, since)
    assert code == 1 and "does not verify" in output


def test_verify_log_url_fails_when_the_key_changes(served, tmp_path):
    since = tmp_path / "sth.json"
    assert verify_remote(served.url, since)[0] == 0
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    served.app.config["LOG_SIGNING_KEY"] = base64.b64encode(other).decode()
    code, output = verify_remote(served.url, since)
    assert code == 1 and "another key" in output


def test_verify_log_url_fails_on_a_signature_that_does_not_verify(served, tmp_path):
    """A server whose STH was signed by another key than the one it publishes."""
    original = served.app.view_functions["log.key"]

    def wrong_key():
        response = original()
        other = Ed25519PrivateKey.generate().public_key()
        response.set_data(
            other.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return response

    served.app.view_functions["log.key"] = wrong_key
    code, output = verify_remote(served.url)
    assert code == 1 and "MISMATCH" in output


def test_verify_log_url_needs_a_reachable_registry(tmp_path):
    code, output = verify_remote("http://127.0.0.1:9")
    assert code == 1 and "cannot fetch" in output
    code, output = verify_remote("file:///etc/passwd")
    assert code == 1 and "only http and https" in output


def test_since_without_url_is_a_usage_error(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["verify-log", "--since", str(tmp_path / "x")], env={"LANGUAGE": "en"}
    )
    assert result.exit_code == 2 and "--since can only be used with --url" in result.output


# --- who may call the new routes -----------------------------------------------------------

NEW_ROUTES = [
    "/log/key",
    "/log/key.json",
    "/log/sth.json",
    "/log/proof/inclusion?index=0&size=1",
    "/log/proof/consistency?first=1&second=1",
]


def test_the_tree_routes_are_public_reads_and_refuse_writes(client, session):
    """Anyone may read them without logging in; nothing may be posted to them."""
    append_entries(session, 1)
    session.flush()
    for url in NEW_ROUTES:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert client.post(url).status_code == 405, url


def test_the_log_page_links_the_signed_tree_head(client):
    page = client.get("/log").get_data(as_text=True)
    assert 'rel="alternate" type="application/json" href="/log/sth.json"' in page
    assert 'href="/log/key"' in page
