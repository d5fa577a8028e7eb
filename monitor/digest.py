"""What goes into a digest, the outbox row that stands for it, and delivering it.

The outbox: ``open_digest`` runs inside the transaction that records a successful run, so a
digest row exists for (feed, period) exactly when the run that filled it committed; the unique
constraint on (feed, period) makes a second one impossible, even with two replicas. The row
then moves ``pending → sending → sent | failed`` (or back to ``pending`` with a later
``next_attempt_at`` after a temporary failure).

Delivery is a loop of small claims (``while deliver_one(...): pass``): each claim is a
conditional UPDATE whose row count says whether this process won the digest, committed before
anything is sent.

The duplicate window, chosen on purpose (docs/reliability.md): between the SMTP server's final
250 and our commit of ``sent``, a crash leaves the outcome unknown. The claim then expires, and
an expired ``sending`` claim is read as "maybe sent": the digest is sent again *with the same
Message-ID*, so a duplicate is possible in that window only, and mail clients can recognise it.
The Message-ID is fixed at the first claim (before the first send) and never changes after.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.feeds import Feed
from monitor.mail import Delivery, MailError, envelope_sender, smtp_send, split_sender, write_outbox
from monitor.render import StudyView, jinja_env, load_studies, one_line
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import Digest, DigestRecipient, FeedArticle, FeedRow, Run, utcnow
from monitor.studies import DigestCounts

log = logging.getLogger("litmon.digest")

BACKOFF_CAP = timedelta(hours=6)
# Relevance values that need no remark in a digest.
# -- headers ----------------------------------------------------------------------------------

def header_text(text: str | None) -> str:
    """Text safe for a header: one line, and no RFC 2047 encoded word of its own.

    Python 3.11.7 decodes an encoded word found in a header value and writes a newline inside
    it out raw (CVE-2024-6923), so ``=?UTF-8?Q?=0A?=Bcc: x`` in a title would become a Bcc
    header. Breaking the ``=?`` opener keeps the text readable and inert.
    """
    return one_line(text).replace("=?", "= ?")


def message_id_for(feed_name: str, period: str, digest_id: int, mail_from: str | None) -> str:
    """``<litmon.{feed}.{period}.{id}@{domain of mail_from}>``: deterministic per digest."""
    domain = envelope_sender(mail_from).rpartition("@")[2] if mail_from else ""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain).strip(".") or "localhost"
    left = ".".join(re.sub(r"[^A-Za-z0-9-]", "", part) or "x"
                    for part in ("litmon", feed_name, period_slug(period), str(digest_id)))
    return f"<{left}@{domain}>"


def period_slug(period: str) -> str:
    """'2026-11-25T06:00Z' -> '20261125T0600Z' (file names, Message-IDs)."""
    return re.sub(r"[^A-Za-z0-9]", "", period) or "period"


# -- content ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DigestContent:
    """Everything one digest email says, in reading order (long-term follow-up first).

    ``studies`` are the studies the email shows; ``content_for`` loads at most
    ``feed.digest.max_items`` of them and puts the figures of the whole digest in ``counts``
    (a first backfill's digest holds every record found: 100,000 StudyViews would not fit in
    memory, and no reader wants them in an email). Without ``counts`` the figures are those of
    ``studies``.
    """

    feed: Feed
    period: str  # ISO UTC slot, or "next" for a preview of what is not announced yet
    studies: tuple[StudyView, ...]
    # Studies announced before that a re-check found retracted, noticed or deleted.
    flagged: tuple[StudyView, ...] = ()
    counts: DigestCounts | None = None

    @property
    def total(self) -> int:
        return self.counts.total if self.counts is not None else len(self.studies)

    @property
    def shown(self) -> tuple[StudyView, ...]:
        return self.studies[: self.feed.digest.max_items]

    @property
    def hidden_count(self) -> int:
        return max(0, self.total - len(self.shown))

    @property
    def long_term_count(self) -> int:
        if self.counts is not None:
            return self.counts.long_term
        return sum(1 for s in self.studies if s.is_long_term)

    @property
    def new_count(self) -> int:
        return self.total - self.update_count

    @property
    def update_count(self) -> int:
        if self.counts is not None:
            return self.counts.updates
        return sum(1 for s in self.studies if s.is_update)


def content_for(session: Any, feed: Feed, period: str, records: Sequence[str] | Select[Any], *,
                flagged: Sequence[str] = (), digest_id: int | None = None) -> DigestContent:
    """The digest's studies: records of one study grouped into one item (monitor.studies).

    ``records``: the record ids, or a SELECT of them (a digest's ``feed_article`` rows), which
    the light columns are then read joined to (``monitor.studies.first_for_digest``). Only the
    first ``feed.digest.max_items`` studies in reading order are loaded; ``counts`` holds the
    figures of all of them.
    """
    from monitor.studies import first_for_digest

    scope = records if isinstance(records, Select) else None
    pmids = list(session.execute(scope).scalars()) if scope is not None else list(records)
    row = repo.feed_by_name(session, feed.name)
    feed_id = row.id if row is not None else None
    studies, counts = first_for_digest(session, feed_id, pmids, feed.long_term_threshold_weeks,
                                       digest_id, feed.digest.max_items, scope=scope)
    flagged_views = [dataclasses.replace(v, newly_flagged=True)
                     for v in load_studies(session, list(flagged), feed.long_term_threshold_weeks)]
    return DigestContent(feed=feed, period=period, studies=tuple(studies),
                         flagged=tuple(flagged_views), counts=counts)


@dataclass(frozen=True)
class BuiltMessage:
    message: EmailMessage
    subject: str
    text: str
    html: str

    def as_bytes(self) -> bytes:
        # CRLF line ends and 78-column folding: what goes on the wire and into the .eml.
        return self.message.as_bytes(policy=SMTP_POLICY)


def _period_text(period: str) -> str:
    try:
        return datetime.strptime(period, "%Y-%m-%dT%H:%MZ").strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return period


def _report_link(settings: Settings, feed: Feed) -> str | None:
    if not settings.report_url:
        return None
    return f"{settings.report_url.rstrip('/')}/{feed.name}/latest.html"


def make_message(settings: Settings, content: DigestContent, *, message_id: str,
                 date: datetime | None = None) -> BuiltMessage:
    """The digest email: subject, text and HTML, each from its template, in one place."""
    feed = content.feed
    env = jinja_env()
    context = {
        "feed": feed,
        "feed_title": one_line(feed.display_title),
        "feed_file": str(feed.path) if feed.path else f"{feed.name}.toml",
        "period": content.period,
        "period_text": _period_text(content.period),
        "total": content.total,
        "long_term_count": content.long_term_count,
        "studies": [(s, s.relevance_text) for s in content.shown],
        "flagged": list(content.flagged),
        "update_count": content.update_count,
        "hidden_count": content.hidden_count,
        "report_link": _report_link(settings, feed),
        "threshold_weeks": feed.long_term_threshold_weeks,
        "prefix": feed.digest.subject_prefix,
    }
    subject = header_text(env.get_template("digest_subject.txt").render(context))
    text = env.get_template("digest.txt").render(context)
    html = env.get_template("digest.html").render(context)

    msg = EmailMessage()
    msg["Subject"] = _EncodedSubject(subject) if not subject.isascii() else subject
    name, address = split_sender(settings.mail_from)
    # An Address object, not formataddr(): the header policy re-folds a formataddr() string and
    # could emit a phrase its own parser rejects (". ¡" came out as an unquoted "." before an
    # encoded word). Address quotes or encodes the display name so it stays one mailbox.
    msg["From"] = (Address(display_name=header_text(name), addr_spec=header_text(address))
                   if name else header_text(address))
    # One message for the whole list; the list is the feed owner's business, not each reader's.
    msg["To"] = "undisclosed-recipients:;"
    msg["Date"] = format_datetime((date or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = header_text(message_id)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Litmon-Feed"] = header_text(feed.name)
    msg["X-Litmon-Period"] = header_text(content.period)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    _check_headers(msg)
    return BuiltMessage(msg, subject, text, html)


class _EncodedSubject(str):
    """A non-ASCII Subject, folded into RFC 2047 encoded words by ``email.header.Header``.

    The email package's own folder (3.11) can cut an encoded word across a line break
    (CPython gh-144156) — a long subject with an emoji reached readers as "=?utf-8?q?=F0..."
    garbage. Header.encode splits on character boundaries and keeps every line within the
    policy's limit. The email package calls ``fold`` for a header value that has a ``name``.
    """

    name = "Subject"

    def fold(self, *, policy: Any) -> str:
        body = Header(str(self), "utf-8", maxlinelen=policy.max_line_length or 78,
                      header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {body}{policy.linesep}"


def _check_headers(msg: EmailMessage) -> None:
    """Last line of defence: a header that would serialise with a line break is a bug."""
    for name, value in msg.items():
        if "\r" in str(value) or "\n" in str(value):
            raise ValueError(f"header {name} would carry a line break")


def subject_for(settings: Settings, content: DigestContent) -> str:
    return make_message(settings, content, message_id="<subject@localhost>").subject


# -- the outbox row ---------------------------------------------------------------------------

def _unannounced(feed_id: int) -> Select[Any]:
    """The feed's records no digest has announced yet."""
    return select(FeedArticle.pmid).where(FeedArticle.feed_id == feed_id,  # type: ignore[arg-type]
                                          FeedArticle.digest_id.is_(None))  # type: ignore[union-attr]


def _has_unannounced(session: Any, feed_id: int) -> bool:
    return session.execute(_unannounced(feed_id).limit(1)).first() is not None


def _digest_records(digest_id: int) -> Select[Any]:
    return select(FeedArticle.pmid).where(FeedArticle.digest_id == digest_id)  # type: ignore[arg-type]


def _flag_pending(session: Any, feed_id: int) -> list[str]:
    return list(session.execute(
        select(FeedArticle.pmid).where(FeedArticle.feed_id == feed_id,  # type: ignore[arg-type]
                                       FeedArticle.flag_pending.is_(True))  # type: ignore[attr-defined]
    ).scalars())


def _digest_flagged(session: Any, digest_id: int) -> list[str]:
    return list(session.execute(
        select(FeedArticle.pmid).where(FeedArticle.flag_digest_id == digest_id)  # type: ignore[arg-type]
    ).scalars())


def open_digest(session: Any, feed: Feed, feed_row: FeedRow, run: Run, now: datetime) -> int | None:
    """Create the digest for the run's period and give it the feed's unannounced articles.

    Runs in the run's final transaction. No row when the period already has a digest (new
    articles then wait for the next period) or when nothing is new (unless send_when_empty).
    """
    from monitor.runs import format_period

    assert feed_row.id is not None
    period = run.period or format_period(feed.period_for(now))
    exists = session.execute(
        select(Digest.id).where(Digest.feed_id == feed_row.id, Digest.period == period)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if exists is not None:
        return None
    if (not _has_unannounced(session, feed_row.id) and not _flag_pending(session, feed_row.id)
            and not feed.digest.send_when_empty):
        return None
    # ON CONFLICT DO NOTHING: a replica racing for the same period loses quietly instead of
    # rolling back its whole run. The Message-ID needs the row id: a unique placeholder first.
    created = repo.insert_ignore(session, Digest, [{
        "feed_id": feed_row.id, "period": period, "run_id": run.id, "status": "pending",
        "message_id": f"<unset.{uuid.uuid4().hex}@localhost>", "subject": "", "item_count": 0,
        "long_term_count": 0, "attempts": 0, "created_at": utcnow(),
    }])
    if not created:
        return None
    digest = session.execute(
        select(Digest).where(Digest.feed_id == feed_row.id, Digest.period == period)  # type: ignore[arg-type]
    ).scalar_one()
    session.execute(
        update(FeedArticle)
        .where(FeedArticle.feed_id == feed_row.id, FeedArticle.digest_id.is_(None))  # type: ignore[arg-type,union-attr]
        .values(digest_id=digest.id)
    )
    session.execute(
        update(FeedArticle)
        .where(FeedArticle.feed_id == feed_row.id, FeedArticle.flag_pending.is_(True))  # type: ignore[arg-type,attr-defined]
        .values(flag_digest_id=digest.id, flag_pending=False)
    )
    content = content_for(session, feed, period, _digest_records(digest.id),
                          flagged=_digest_flagged(session, digest.id), digest_id=digest.id)
    digest.message_id = message_id_for(feed.name, period, digest.id, None)
    digest.item_count, digest.long_term_count = content.total, content.long_term_count
    digest.subject = subject_for(Settings(), content)
    session.add(digest)
    session.flush()
    log.info("digest opened", extra={"feed": feed.name, "period": period, "digest_id": digest.id,
                                     "items": content.total, "long_term": content.long_term_count})
    return digest.id


def preview_next(session: Any, feed: Feed) -> DigestContent:
    """What the next digest would hold now: the feed's articles no digest has announced."""
    row = repo.feed_by_name(session, feed.name)
    known = row is not None and row.id is not None
    flagged = _flag_pending(session, row.id) if known else []
    return content_for(session, feed, "next", _unannounced(row.id) if known else [],
                       flagged=flagged)


def find_digest(session: Any, feed: Feed, period: str) -> Digest | None:
    """The stored digest of ``feed`` for ``period`` ('latest' for the newest)."""
    row = repo.feed_by_name(session, feed.name)
    if row is None:
        return None
    q = select(Digest).where(Digest.feed_id == row.id)  # type: ignore[arg-type]
    if period == "latest":
        q = q.order_by(Digest.period.desc(), Digest.id.desc()).limit(1)  # type: ignore[attr-defined,union-attr]
    else:
        q = q.where(Digest.period == period)  # type: ignore[arg-type]
    return session.execute(q).scalar_one_or_none()


def stored_content(session: Any, feed: Feed, digest: Digest) -> DigestContent:
    assert digest.id is not None
    return content_for(session, feed, digest.period, _digest_records(digest.id),
                       flagged=_digest_flagged(session, digest.id), digest_id=digest.id)


# -- delivery ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one delivery attempt did, for the CLI and the log."""

    digest_id: int
    feed: str
    period: str
    status: str  # sent | written | deferred | failed
    detail: str = ""
    path: Path | None = None
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    next_attempt_at: datetime | None = None

    def line(self) -> str:
        head = f"{self.feed} {self.period}: digest {self.digest_id}"
        if self.status == "written":
            return f"{head} written to {self.path}"
        if self.status == "sent":
            text = f"{head} sent ({self.detail})"
            if self.refused:
                text += "; refused: " + ", ".join(f"{a} ({c} {t})" for a, (c, t) in self.refused.items())
            return text
        if self.status == "deferred":
            when = f"{self.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" if self.next_attempt_at else "later"
            return f"{head} not sent yet, will retry after {when}: {self.detail}"
        return f"{head} FAILED: {self.detail}"


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Doubling from LITMON_DIGEST_RETRY_SECONDS, capped at six hours."""
    seconds = settings.digest_retry_seconds * (2 ** max(0, min(attempts - 1, 20)))
    return min(timedelta(seconds=seconds), BACKOFF_CAP)


def _due(now: datetime) -> Any:
    return or_(
        and_(Digest.status == "pending",
             or_(Digest.next_attempt_at.is_(None), Digest.next_attempt_at <= now)),  # type: ignore[union-attr,operator]
        and_(Digest.status == "sending", Digest.lease_expires_at < now),  # type: ignore[operator]
    )


def lease_length(settings: Settings) -> timedelta:
    # Long enough for a slow server (connect, TLS, AUTH, DATA each up to the timeout).
    return timedelta(seconds=max(settings.lease_seconds, settings.smtp_timeout * 6))


def claim_next(engine: Engine, settings: Settings, feeds: dict[str, Feed], now: datetime,
               holder: str) -> int | None:
    """Claim one due digest of these feeds for ``holder``; its id, or None when none is due."""
    if not feeds:
        return None
    with session_scope(engine) as session:
        candidates = session.execute(
            select(Digest.id).join(FeedRow, FeedRow.id == Digest.feed_id)  # type: ignore[arg-type]
            .where(FeedRow.name.in_(sorted(feeds)), _due(now))  # type: ignore[attr-defined]
            .order_by(Digest.created_at, Digest.id).limit(10)
        ).scalars().all()
        for digest_id in candidates:
            won = session.execute(
                update(Digest).where(Digest.id == digest_id, _due(now))  # type: ignore[arg-type]
                .values(status="sending", lease_holder=holder, lease_expires_at=now + lease_length(settings),
                        attempts=Digest.attempts + 1)
            ).rowcount
            if won != 1:
                continue  # another process took it between our SELECT and UPDATE
            digest = session.get(Digest, digest_id)
            feed_row = session.get(FeedRow, digest.feed_id)
            feed = feeds[feed_row.name]
            if digest.attempts == 1:
                # Fixed before the first send, never changed after: resends keep it.
                digest.message_id = message_id_for(feed.name, digest.period, digest_id, settings.mail_from)
                session.add(digest)
            has_recipients = session.execute(
                select(DigestRecipient.address).where(DigestRecipient.digest_id == digest_id).limit(1)  # type: ignore[arg-type]
            ).first()
            if has_recipients is None and feed.recipients:
                repo.insert_ignore(session, DigestRecipient, [
                    {"digest_id": digest_id, "address": a, "status": "pending", "updated_at": now}
                    for a in feed.recipients
                ])
            return digest_id
    return None


def deliver_one(engine: Engine, settings: Settings, feeds: Iterable[Feed], *,
                now: datetime | None = None) -> Outcome | None:
    """Claim one due digest and deliver it; None when nothing is due."""
    from monitor.runs import holder_id

    now = (now or utcnow()).astimezone(UTC)
    by_name = {f.name: f for f in feeds}
    holder = f"{holder_id()}:{uuid.uuid4().hex[:8]}"
    digest_id = claim_next(engine, settings, by_name, now, holder)
    if digest_id is None:
        return None
    with session_scope(engine) as session:
        digest = session.get(Digest, digest_id)
        feed = by_name[session.get(FeedRow, digest.feed_id).name]
        content = stored_content(session, feed, digest)
        recipients = list(session.execute(
            select(DigestRecipient).where(DigestRecipient.digest_id == digest_id)  # type: ignore[arg-type]
        ).scalars())
        period, message_id, attempts = digest.period, digest.message_id, digest.attempts
    outcome = Outcome(digest_id, feed.name, period, "failed")
    to_send = [r.address for r in recipients if r.status in ("pending", "deferred")]
    delivery: Delivery | None = None
    error: MailError | None = None
    try:
        built = make_message(settings, content, message_id=message_id, date=now)
        data = built.as_bytes()
        if not settings.smtp_host or not recipients:
            stem = f"{feed.name}/{period_slug(period)}-{digest_id}"
            outcome.path = write_outbox(settings, stem, data, built.html)
            outcome.status = "written"
        elif to_send:
            delivery = smtp_send(settings, data, envelope_sender(settings.mail_from), to_send)
        else:
            delivery = Delivery()  # every recipient already settled in an earlier attempt
    except MailError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - never leave a claim dangling on a bug or disk error
        log.exception("digest delivery failed unexpectedly", extra={"digest_id": digest_id})
        error = MailError(f"{type(exc).__name__}: {exc}", transient=True)
    _record(engine, settings, digest_id, holder, now, attempts, outcome, delivery, error)
    log.info("digest delivery", extra={"feed": feed.name, "period": period, "digest_id": digest_id,
                                       "status": outcome.status, "detail": outcome.detail})
    return outcome


def _record(engine: Engine, settings: Settings, digest_id: int, holder: str, now: datetime,
            attempts: int, outcome: Outcome, delivery: Delivery | None,
            error: MailError | None) -> None:
    with session_scope(engine) as session:
        recipients = {r.address: r for r in session.execute(
            select(DigestRecipient).where(DigestRecipient.digest_id == digest_id)  # type: ignore[arg-type]
        ).scalars()}
        values: dict[str, Any] = {"lease_holder": None, "lease_expires_at": None}
        if outcome.status == "written":
            values.update(status="sent", sent_at=now, last_error=None, next_attempt_at=None)
        elif error is not None:
            for r in recipients.values():
                if r.status in ("pending", "deferred") and not error.transient:
                    r.status, r.smtp_code, r.error, r.updated_at = "failed", error.code, str(error), now
                    session.add(r)
            if error.transient:
                retry_at = now + backoff(settings, attempts)
                values.update(status="pending", next_attempt_at=retry_at, last_error=str(error))
                outcome.status, outcome.next_attempt_at = "deferred", retry_at
            else:
                values.update(status="failed", next_attempt_at=None, last_error=str(error))
                outcome.status = "failed"
            outcome.detail = str(error)
        else:
            assert delivery is not None
            for address in delivery.accepted:
                r = recipients[address]
                r.status, r.smtp_code, r.error, r.updated_at = "sent", 250, None, now
                session.add(r)
            for address, (code, text) in delivery.refused.items():
                r = recipients[address]
                # 4xx for one address: try that address again later; 5xx: it will not work.
                r.status = "deferred" if 400 <= code < 500 else "refused"
                r.smtp_code, r.error, r.updated_at = code, f"{code} {text}", now
                session.add(r)
            outcome.refused = dict(delivery.refused)
            statuses = [r.status for r in recipients.values()]
            sent = statuses.count("sent")
            problems = "; ".join(f"{r.address}: {r.error}" for r in recipients.values()
                                 if r.status in ("refused", "deferred", "failed"))
            if "deferred" in statuses:
                retry_at = now + backoff(settings, attempts)
                values.update(status="pending", next_attempt_at=retry_at, last_error=problems)
                outcome.status, outcome.next_attempt_at = "deferred", retry_at
                outcome.detail = problems
            elif sent:
                values.update(status="sent", sent_at=now, next_attempt_at=None,
                              last_error=f"refused: {problems}" if problems else None)
                outcome.status = "sent"
                outcome.detail = f"{sent} of {len(statuses)} recipients accepted"
            else:
                values.update(status="failed", next_attempt_at=None,
                              last_error=f"every recipient refused: {problems}")
                outcome.status, outcome.detail = "failed", f"every recipient refused: {problems}"
        kept = session.execute(
            update(Digest).where(Digest.id == digest_id, Digest.lease_holder == holder)  # type: ignore[arg-type]
            .values(**values)
        ).rowcount
        if kept != 1:
            # Our lease expired and another process took the digest over; its result stands.
            log.warning("digest lease lost before recording the result",
                        extra={"digest_id": digest_id, "status": outcome.status})


def deliver_pending(engine: Engine, settings: Settings, feeds: Iterable[Feed], *,
                    now: datetime | None = None, limit: int = 1000) -> list[Outcome]:
    """Deliver every due digest of these feeds, one claim at a time."""
    feeds = list(feeds)
    outcomes: list[Outcome] = []
    while len(outcomes) < limit and (outcome := deliver_one(engine, settings, feeds, now=now)):
        outcomes.append(outcome)
    return outcomes


def retry_failed(engine: Engine, feeds: Iterable[Feed]) -> int:
    """Put failed digests of these feeds back to pending (after fixing the cause)."""
    names = [f.name for f in feeds]
    with session_scope(engine) as session:
        ids = session.execute(
            select(Digest.id).join(FeedRow, FeedRow.id == Digest.feed_id)  # type: ignore[arg-type]
            .where(FeedRow.name.in_(names), Digest.status == "failed")  # type: ignore[attr-defined]
        ).scalars().all()
        if not ids:
            return 0
        session.execute(
            update(DigestRecipient).where(DigestRecipient.digest_id.in_(ids),  # type: ignore[attr-defined]
                                          DigestRecipient.status == "failed")
            .values(status="pending")
        )
        session.execute(
            update(Digest).where(Digest.id.in_(ids))  # type: ignore[union-attr]
            .values(status="pending", next_attempt_at=None)
        )
        return len(ids)
