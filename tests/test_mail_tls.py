"""Mail over TLS with a login, against a real SMTP server on localhost (aiosmtpd, started
by the test) with a certificate the test issues from its own CA: STARTTLS and implicit TLS
deliver, the login is checked, and a wrong password or an untrusted certificate leaves the
mail in the outbox to be retried."""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import delete
from sqlalchemy.orm import Session

from registry import mail
from registry.models import OutboxMail
from tests.test_submission_mail import Mailbox, free_port

USER, PASSWORD = "registry", "s3cret-Pa55"


@pytest.fixture
def session(engine):
    """A session of its own that really commits, as the sender does (the shared test
    transaction cannot hold the sender's commits on SQLite); the outbox is emptied before
    and after."""
    with Session(engine, expire_on_commit=False) as session:
        session.execute(delete(OutboxMail))
        session.commit()
        yield session
        session.rollback()
        session.execute(delete(OutboxMail))
        session.commit()


def _certificate(subject, issuer, public_key, signing_key, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path) -> dict:
    """A test CA (its PEM in ca.pem) and a server certificate for 127.0.0.1 it signed."""
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("Test mail CA", "Test mail CA", ca_key.public_key(), ca_key, ca=True)
    server = _certificate("127.0.0.1", "Test mail CA", server_key.public_key(), ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(server.public_bytes(pem))
    (tmp_path / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return {"ca_file": str(tmp_path / "ca.pem"), "context": context}


class TlsMailbox(Mailbox):
    """Keeps each message with whether it came over TLS and who had logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, object]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((encrypted, session.auth_data))
        return await super().handle_DATA(server, session, envelope)

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def _server(mailbox: TlsMailbox, port: int, pki: dict, tls: str) -> Controller:
    options: dict = {"authenticator": mailbox.authenticate, "auth_required": True}
    if tls == "ssl":  # encrypted from the first byte, which aiosmtpd cannot tell by itself:
        # it offers AUTH only when told TLS is not needed, and then will not demand a login
        options = {"authenticator": mailbox.authenticate, "auth_require_tls": False}
        options |= {"ssl_context": pki["context"]}
    else:
        options |= {"tls_context": pki["context"], "require_starttls": True}
    return Controller(mailbox, hostname="127.0.0.1", port=port, **options)


@pytest.fixture(params=["starttls", "ssl"])
def tls_server(request, pki):
    mailbox, port = TlsMailbox(), free_port()
    controller = _server(mailbox, port, pki, request.param)
    controller.start()
    yield mailbox, port, request.param
    controller.stop()


def _settings(port: int, tls: str, pki: dict, **changes) -> mail.SmtpSettings:
    base = mail.SmtpSettings(
        host="127.0.0.1",
        port=port,
        tls=tls,
        username=USER,
        password=PASSWORD,
        sender="registry@example.org",
        timeout=5,
        ca_file=pki["ca_file"],
    )
    return mail.SmtpSettings(**(base.__dict__ | changes))


def _queued(session) -> OutboxMail:
    queued = mail.enqueue(session, "legal@example.com", "受理编号 OB2612040001", "正文", "t:1")
    session.commit()
    return queued


def test_tls_delivery_with_login_reaches_the_server_encrypted(session, tls_server, pki):
    mailbox, port, tls = tls_server
    queued = _queued(session)
    assert mail.deliver_due(session, _settings(port, tls, pki))
    [message] = mailbox.messages
    assert message["Subject"] == "受理编号 OB2612040001"
    assert mailbox.logins == [(USER.encode(), PASSWORD.encode())]
    [(encrypted, auth_data)] = mailbox.sessions
    assert encrypted and auth_data is not None
    session.refresh(queued)
    assert queued.state == "sent" and queued.last_error == ""


def test_wrong_password_is_refused_and_the_mail_waits_for_a_retry(session, tls_server, pki):
    mailbox, port, tls = tls_server
    queued = _queued(session)
    mail.deliver_due(session, _settings(port, tls, pki, password="wrong"))
    assert mailbox.messages == []
    session.refresh(queued)
    assert queued.state == "pending" and queued.attempts == 1
    assert "SMTPAuthenticationError" in queued.last_error
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mail.send(_settings(port, tls, pki, password="wrong"), mail.message_for(queued, "a@b.cn"))


def test_certificate_from_an_unknown_ca_is_not_trusted(session, tls_server, pki, tmp_path):
    mailbox, port, tls = tls_server
    queued = _queued(session)
    mail.deliver_due(session, _settings(port, tls, pki, ca_file=""))  # the system's CAs
    assert mailbox.messages == [] and mailbox.logins == []  # no password over it either
    session.refresh(queued)
    assert queued.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in queued.last_error


def test_starttls_server_refuses_a_client_that_does_not_encrypt(session, pki):
    mailbox, port = TlsMailbox(), free_port()
    controller = _server(mailbox, port, pki, "starttls")
    controller.start()
    try:
        with pytest.raises(smtplib.SMTPException):
            mail.send(_settings(port, "none", pki), mail.message_for(_queued(session), "a@b.cn"))
    finally:
        controller.stop()
    assert mailbox.messages == [] and mailbox.logins == []


def test_mail_is_given_up_after_every_retry_and_counted(session, pki):
    queued, port = _queued(session), free_port()  # nothing listens there
    now = datetime.now(UTC)
    for attempt in range(1, mail.MAX_ATTEMPTS + 1):
        assert mail.outbox_counts(session) == {"pending": 1, "failed": 0}
        mail.deliver_due(session, _settings(port, "starttls", pki), now=now)
        session.refresh(queued)
        assert queued.attempts == attempt
        now = queued.next_attempt_at
    assert queued.state == "failed" and "ConnectionRefusedError" in queued.last_error
    assert mail.outbox_counts(session) == {"pending": 0, "failed": 1}
    assert mail.failed_refs(session, "t:") == ["t:1"] and mail.failed_refs(session, "t_") == []
